"""Implants on CT: metal screws found in the image and the registration of a post-operative CT."""
