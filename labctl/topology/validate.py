"""Loading a topology file: YAML -> typed Topology, with every problem located at file:line."""
from __future__ import annotations

import re
import types
import typing
from ipaddress import ip_network
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from labctl.errors import InputError
from labctl.services import SERVICES
from labctl.topology.loader import Source, load_yaml
from labctl.topology.schema import Topology

NAME_MAX = 15
NODE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
LAB_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
INTERFACE_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")


def _unwrap(annotation: Any) -> Any:
    """`Model | None` -> Model."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if models else annotation
    return annotation


def _model_at(root: type[BaseModel], loc: tuple) -> Any:
    """The type found at `loc` below `root` (e.g. ('links', 0) -> Link)."""
    annotation: Any = root
    for part in loc:
        annotation = _unwrap(annotation)
        if typing.get_origin(annotation) in (dict, list):
            annotation = typing.get_args(annotation)[-1]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel) and part in annotation.model_fields:
            annotation = annotation.model_fields[part].annotation
    return _unwrap(annotation)


def _data_loc(data: Any, loc: tuple) -> tuple:
    """pydantic's loc without the parts that are not keys of the input (union tags, validator names)."""
    kept = []
    for part in loc:
        if isinstance(data, dict) and part in data or \
                isinstance(data, list) and isinstance(part, int) and part < len(data):
            kept.append(part)
            data = data[part]
    return tuple(kept)


_IP_EXAMPLES = {"ip_v4_network": ("an IPv4 network", "10.0.0.0/24"),
                "ip_v6_network": ("an IPv6 network", "2001:db8::/64"),
                "ip_v4_interface": ("an IPv4 address", "10.0.0.1/24"),
                "ip_v6_interface": ("an IPv6 address", "2001:db8::1/64"),
                "ip_v4_address": ("an IPv4 address", "10.0.0.1"),
                "ip_v6_address": ("an IPv6 address", "2001:db8::1")}


def _ip_message(err_type: str, value: Any) -> str:
    """What pydantic's "Input is not a valid IPv4 network" means, with the network meant if host bits are set."""
    what, example = _IP_EXAMPLES[err_type]
    if err_type.endswith("network") and isinstance(value, str):
        try:
            ip_network(value)
        except ValueError:
            try:
                network = ip_network(value, strict=False)
                return f"{value} is an address, not a network: the network is {network} (host bits are zero)"
            except ValueError:
                pass
    length = " with prefix length" if "/" in example else ""
    return f"expected {what}{length}, e.g. {example} (got {value!r})"


_SHORTHAND = {"Node": " or a kind (host, router, switch)", "Endpoint": " or 'node' or 'node:interface'",
              "Link": " or a list of two endpoints"}


def _keys(model: type[BaseModel]) -> str:
    """A model's keys as written in files (aliases where a field has one)."""
    return ", ".join(f.alias or name for name, f in model.model_fields.items())


def pydantic_messages(source: Source, exc: ValidationError, root: type[BaseModel], prefix: tuple = ()) -> list[str]:
    """Turn pydantic's errors into located messages that say what would be valid.

    `prefix` is where the validated data sits in the file, when it is not the whole document."""
    data = source.data
    for part in prefix:
        data = data[part]
    by_loc: dict[tuple, list[str]] = {}
    for err in exc.errors():
        loc = prefix + _data_loc(data, err["loc"])
        if err["type"] == "extra_forbidden":
            # the model is looked up along pydantic's own loc, which has the keys a shorthand left out
            message = f"unknown key '{err['loc'][-1]}'; valid keys: {_keys(_model_at(root, err['loc'][:-1]))}"
        elif err["type"] == "missing":
            message = f"missing required key '{err['loc'][-1]}'"
        elif err["type"] in _IP_EXAMPLES:
            message = _ip_message(err["type"], err.get("input"))
        elif err["type"] == "model_type":
            model = _model_at(root, err["loc"])
            message = f"expected a mapping with keys {_keys(model)}{_SHORTHAND.get(model.__name__, '')}"
            if not isinstance(err.get("input"), (dict, list, type(None))):
                message += f" (got {err['input']!r})"
        elif err["type"] == "literal_error":      # the key is named when loc lacks it (the shorthand `r1: router`)
            key = "" if loc[-1:] == err["loc"][-1:] else f"{err['loc'][-1]} "
            message = f"expected {key}{err['ctx']['expected']} (got {err['input']!r})"
        elif err["type"] in ("dict_type", "list_type"):
            message = "expected a mapping (key: value)" if err["type"] == "dict_type" else "expected a list (- item)"
            message += f", got {type(err.get('input')).__name__}"
        else:
            message = err["msg"].removeprefix("Value error, ")
            if not isinstance(err.get("input"), (dict, list, type(None))):
                message += f" (got {err['input']!r})"
        if message not in by_loc.setdefault(loc, []):
            by_loc[loc].append(message)
    return [source.error(loc, " or ".join(msgs)) for loc, msgs in by_loc.items()]


def name_problem(name: str, what: str, pattern: re.Pattern) -> str | None:
    """Why `name` is not a valid lab or node name, or None."""
    if not pattern.match(name):
        rule = "letters, digits, '-' and '_', starting with a letter" if pattern is NODE_NAME else \
            "lowercase letters, digits, '-' and '_'"
        return f"invalid {what} name '{name}': use {rule}"
    if len(name) > NAME_MAX:
        return (f"{what} name '{name}' is {len(name)} characters long; "
                f"at most {NAME_MAX} (names become interface and bridge names)")
    return None


def check_name(source: Source, loc: tuple, name: str, what: str, pattern: re.Pattern) -> list[str]:
    problem = name_problem(name, what, pattern)
    return [source.error(loc, problem)] if problem else []


def semantic_errors(source: Source, topo: Topology) -> list[str]:
    """Cross-reference checks pydantic cannot do: names, endpoints, interfaces, loops, subnets."""
    errors = check_name(source, ("name",), topo.name, "lab", LAB_NAME)
    for name, node in topo.nodes.items():
        errors += check_name(source, ("nodes", name), name, "node", NODE_NAME)
        if node.kind == "switch" and (node.loopback or node.routes):
            errors.append(source.error(("nodes", name), "a switch has no loopback or routes"))
        if node.kind == "host" and node.loopback:
            errors.append(source.error(("nodes", name, "loopback"), "only routers get a loopback address"))
        for key in ("subnet", "ipv6_subnet"):
            if node.kind != "switch" and getattr(node, key):
                errors.append(source.error(("nodes", name, key), f"only switches carry a LAN {key}; "
                                                                 f"on a point-to-point link set the link's {key}"))
    known = ", ".join(topo.nodes)
    seen: dict[tuple[str, str], tuple] = {}
    for i, link in enumerate(topo.links):
        names = [e.node for e in link.endpoints]
        for j, end in enumerate(link.endpoints):
            loc = ("links", i, "endpoints", j)
            if end.node not in topo.nodes:
                errors.append(source.error(loc, f"unknown node '{end.node}'; nodes are: {known}"))
                continue
            if end.interface is not None:
                if end.interface == "lo" or not INTERFACE_NAME.match(end.interface) or len(end.interface) > NAME_MAX:
                    errors.append(source.error(loc, f"invalid interface name '{end.interface}': lowercase letters, "
                                                    f"digits, '.', '-', '_', at most {NAME_MAX} characters, not 'lo'"))
                elif (end.node, end.interface) in seen:
                    first = source.line(seen[(end.node, end.interface)])
                    errors.append(source.error(loc, f"interface {end.node}:{end.interface} is already used by the "
                                                    f"link at line {first}"))
                else:
                    seen[(end.node, end.interface)] = loc
            if topo.nodes[end.node].kind == "switch" and (end.ipv4 or end.ipv6):
                errors.append(source.error(loc, f"'{end.node}' is a switch: switch ports carry no addresses"))
        if names[0] == names[1]:
            errors.append(source.error(("links", i), f"a link needs two different nodes, got '{names[0]}' twice"))
        errors += [source.error(("links", i, "from", sender), f"'{sender}' is not an end of this link; `from:` names "
                                                             f"{' or '.join(names)}, for what that end sends")
                   for sender in link.from_ if sender not in names]
        kinds = {topo.nodes[n].kind for n in names if n in topo.nodes}
        if "switch" in kinds and (link.subnet or link.ipv6_subnet):
            errors.append(source.error(("links", i, "subnet"), "a link to a switch joins its LAN: "
                                                              "set the LAN's subnet on the switch (nodes.<switch>.subnet)"))
    errors += _service_errors(source, topo)
    if not errors:
        errors += _switch_loops(source, topo) + _overlaps(source, topo)
    return errors


def _service_errors(source: Source, topo: Topology) -> list[str]:
    """Each service is known, runs on this kind of node, and accepts its parameters (its own model says)."""
    errors = []
    for name, node in topo.nodes.items():
        written = source.data["nodes"][name]["services"] if node.services else []
        for i, (service, params) in enumerate(node.services.items()):
            loc = ("nodes", name, "services", i if isinstance(written, list) else service)
            if service not in SERVICES:
                errors.append(source.error(loc, f"unknown service '{service}'; services: {', '.join(sorted(SERVICES))}"))
            elif SERVICES[service].implied:
                errors.append(source.error(loc, f"service '{service}' is not listed under services: labctl runs it "
                                                f"{SERVICES[service].implied}"))
            elif node.kind not in SERVICES[service].kinds:
                errors.append(source.error(loc, f"service '{service}' runs on a {' or a '.join(SERVICES[service].kinds)}"
                                                f", not on a {node.kind}"))
            else:
                try:
                    SERVICES[service].Params.model_validate(params)
                except ValidationError as exc:
                    errors += pydantic_messages(source, exc, SERVICES[service].Params, prefix=loc)
    return errors


def _switch_loops(source: Source, topo: Topology) -> list[str]:
    parent = {n: n for n, node in topo.nodes.items() if node.kind == "switch"}

    def find(n: str) -> str:
        while parent[n] != n:
            n = parent[n]
        return n

    errors = []
    for i, link in enumerate(topo.links):
        a, b = (e.node for e in link.endpoints)
        if a in parent and b in parent:
            if find(a) == find(b):
                errors.append(source.error(("links", i), f"switches {a} and {b} are already connected: "
                                                         "a loop of Linux bridges (without STP) would flood the LAN"))
            parent[find(a)] = find(b)
    return errors


def _overlaps(source: Source, topo: Topology) -> list[str]:
    pools = [(("addressing", k), getattr(topo.addressing, k)) for k in ("lan", "p2p", "loopback", "ipv6")]
    explicit = [(("nodes", n, "subnet"), node.subnet) for n, node in topo.nodes.items()]
    explicit += [(("nodes", n, "ipv6_subnet"), node.ipv6_subnet) for n, node in topo.nodes.items()]
    explicit += [(("links", i, "subnet"), link.subnet) for i, link in enumerate(topo.links)]
    explicit += [(("links", i, "ipv6_subnet"), link.ipv6_subnet) for i, link in enumerate(topo.links)]
    explicit += [(("nodes", n, "loopback"), node.loopback and ip_network(node.loopback.ip))
                 for n, node in topo.nodes.items()]
    errors = []
    for rule, group in (("address pools must not overlap", [p for p in pools if p[1]]),
                        ("explicit subnets must not overlap", [e for e in explicit if e[1]])):
        for k, (loc_a, net_a) in enumerate(group):
            for loc_b, net_b in group[k + 1:]:
                if net_a.version == net_b.version and net_a.overlaps(net_b):
                    default = {loc: " (the default)" if loc not in source.lines else "" for loc in (loc_a, loc_b)}
                    errors.append(source.error(loc_b, f"{net_b}{default[loc_b]} overlaps {net_a}{default[loc_a]} "
                                                      f"({'.'.join(map(str, loc_a))}, line {source.line(loc_a)}); "
                                                      f"{rule}"))
    return errors


def load_topology(path: str | Path) -> tuple[Topology, Source]:
    """Read and validate a topology file; raise InputError listing every problem found."""
    source = load_yaml(path)
    try:
        topo = Topology.model_validate(source.data)
    except ValidationError as exc:
        raise InputError(pydantic_messages(source, exc, Topology)) from None
    errors = semantic_errors(source, topo)
    if errors:
        raise InputError(errors)
    return topo, source
