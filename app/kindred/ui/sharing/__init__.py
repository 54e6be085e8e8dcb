"""Sharing the assistant with other apps on this computer: the local API served by the window
(`sharing`), on the chat's own engine (`host`), and the setting that turns it on (`dialog`)."""
