"""Entry point of spinlock-features in the `spinlock` plugin group.

Components are registered here with lazy `"module:attr"` factories so that loading the plugin imports no torch.
"""
