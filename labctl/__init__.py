"""labctl: network labs on Linux network namespaces."""
