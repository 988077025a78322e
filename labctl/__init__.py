"""labctl: network labs on Linux network namespaces."""


def __getattr__(name: str):
    """`labctl.attach` imports Mininet (0.2 s) on first use, so `import labctl` stays fast."""
    if name == "attach":
        from labctl.runtime.mininet_net import attach
        return attach
    raise AttributeError(f"module 'labctl' has no attribute {name!r}")
