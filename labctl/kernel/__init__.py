"""What labctl drives on this machine, with no notion of labs: network namespaces, netlink, cgroups, and the
capability probe."""
