"""The test tiers (unit, playbooks, images, e2e). Room: the top; may import anything but ``bench``."""
