"""The labctl command: parse arguments, call the library, print. Errors become messages and exit codes here."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from labctl.errors import InputError, LabctlError
from labctl.topology import Plan, compile_plan, load_topology
from labctl.topology.validate import LAB_NAME, name_problem

TOPOLOGIES = Path(__file__).resolve().parent.parent / "topologies"
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _check_lab_name(name: str | None) -> None:
    """--name, where given, must be a valid lab name."""
    if name and (problem := name_problem(name, "lab", LAB_NAME)):
        raise InputError([f"--name: {problem}"])


def _plan_from(args: argparse.Namespace) -> Plan:
    _check_lab_name(args.name)
    if args.mininet and args.file:
        raise InputError(["labctl up: give a topology file or --mininet SPEC, not both"])
    if args.mininet:
        from labctl.topology.mininet_topo import topology_from_mininet
        return compile_plan(topology_from_mininet(args.mininet), name=args.name)
    if not args.file:
        raise InputError(["labctl up: give a topology file, or --mininet SPEC"])
    topo, source = load_topology(args.file)
    return compile_plan(topo, source, name=args.name)


def _plan_of(target: str) -> tuple[Plan, set[int]]:
    """A running lab's plan with its links as they are now, and those down; or a topology file's plan."""
    from labctl.runtime.links import live_links
    from labctl.runtime.state import list_labs, load
    if target in list_labs():
        state, plan = load(target)
        return plan.model_copy(update={"links": live_links(plan, state)}), set(state.links_down)
    topo, source = load_topology(target)
    return compile_plan(topo, source), set()


def _bring_up(plan: Plan, quiet: bool = False):
    from labctl.runtime import lab
    if quiet or not err.is_terminal:
        return lab.up(plan)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)
        return lab.up(plan, progress)


def cmd_up(args: argparse.Namespace) -> int:
    plan = _plan_from(args)
    _bring_up(plan, args.quiet)
    hosts = sum(1 for n in plan.nodes.values() if n.kind != "switch")
    out.print(f"lab [bold]{plan.name}[/] is up: {len(plan.nodes)} nodes, {len(plan.links)} links. "
              f"Try: labctl exec {plan.name} {next(iter(plan.nodes))} -- ip addr   |   labctl down {plan.name}"
              if hosts else f"lab {plan.name} is up")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from labctl.runtime import lab
    if args.all:
        names = lab.list_labs()
    elif args.lab:
        names = [args.lab]
    else:
        raise InputError(["labctl down: name a lab, or --all"])
    for name in names:
        lab.down(name)
        out.print(f"lab {name} is down")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from labctl.runtime import lab
    removed = lab.clean()
    out.print(f"removed: {', '.join(removed)}" if removed else "nothing to clean")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from labctl.runtime import lab
    lab.require_root("labctl status")
    names = [args.lab] if args.lab else lab.list_labs()
    report = {}
    for name in names:
        try:
            report[name] = lab.status(name)
        except LabctlError:
            if args.lab:
                raise
            continue    # went down while we were looking
    if args.json:
        print(json.dumps({name: asdict(found) for name, found in report.items()}, indent=1))
        return 0
    if not names:
        out.print("no labs are up")
    for found in report.values():
        _print_status(found)
    return 0


def _print_status(found) -> None:
    def coloured(text: str, good: bool) -> str:
        return f"[{'green' if good else 'red'}]{text}[/]"

    table = Table(title=f"lab {found.name} ({found.status})", title_justify="left")
    for column in ("node", "kind", "interface", "peer", "state", "addresses", "rx/tx packets"):
        table.add_column(column)
    for node in found.nodes:
        first = (node.name + (" [red](stopped)[/]" if node.stopped else ""), node.kind)
        for i, intf in enumerate(node.interfaces or [None]):
            row = first if i == 0 else ("", "")
            if intf is None:
                table.add_row(*row, "", "", "", "", "")
                continue
            table.add_row(*row, intf.name, intf.peer, coloured(intf.state, intf.state == "up"),
                          " ".join(intf.addresses), f"{intf.rx_packets}/{intf.tx_packets}")
    out.print(table)
    links = Table(title="links", title_justify="left")
    for column in ("link", "state", "conditions", "shaped by", "what its queues saw"):
        links.add_column(column)
    for link in found.links:
        links.add_row(f"{link.a} - {link.b}", coloured("down" if link.down else "up", not link.down), link.shaping,
                      "\n".join(link.shaped_by), "\n".join(link.counters))
    out.print(links)
    if found.services:
        table = Table(title="services", title_justify="left")
        for column in ("node", "service", "state", "started"):
            table.add_column(column)
        for svc in found.services:
            table.add_row(svc.node, svc.name, coloured(svc.describe(), svc.state == "running"),
                          time.strftime("%H:%M:%S", time.localtime(svc.since)) if svc.since else "")
        out.print(table)


def cmd_logs(args: argparse.Namespace) -> int:
    from labctl.runtime.logs import log_files, tail
    from labctl.runtime.state import load
    logs = log_files(args.lab, load(args.lab)[1], args.node, args.service)
    for name, line in tail(logs, args.lines, args.follow):
        out.print(f"[dim]{name}[/] {line}" if len(logs) > 1 else line, markup=len(logs) > 1, highlight=False)
    return 0


def _exec_in(lab: str, node: str, argv: list[str]) -> int:
    from labctl.runtime.commands import node_argv
    from labctl.runtime.lab import require_root
    from labctl.runtime.services import join_exec_scope
    require_root("labctl exec")
    command = node_argv(lab, node, argv)
    join_exec_scope(lab, node)           # so that `labctl down` ends it too
    sys.stdout.flush()
    os.execvp(command[0], command)
    return 127  # not reached


def cmd_exec(args: argparse.Namespace) -> int:
    argv = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not argv:
        raise InputError(["labctl exec: give a command after --, e.g. labctl exec demo h1 -- ping -c1 h2"])
    return _exec_in(args.lab, args.node, argv)


def cmd_shell(args: argparse.Namespace) -> int:
    prompt = f"[{args.lab}:{args.node}] \\w# "
    return _exec_in(args.lab, args.node, ["env", f"PS1={prompt}", "LABCTL_LAB=" + args.lab,
                                          "LABCTL_NODE=" + args.node, "bash", "--norc", "-i"])


def cmd_capture(args: argparse.Namespace) -> int:
    node, _, ifname = args.target.partition(":")
    if not ifname:
        raise InputError([f"labctl capture: expected NODE:INTERFACE, e.g. h1:eth0 (got '{args.target}')"])
    argv = ["tcpdump", "-i", ifname, "-n", "-U"]
    if args.write:
        argv += ["-w", str(Path(args.write).resolve())]
    if args.count:
        argv += ["-c", str(args.count)]
    return _exec_in(args.lab, node, argv + args.filter)


def cmd_cli(args: argparse.Namespace) -> int:
    from mininet.cli import CLI

    from labctl.runtime.mininet_net import attach
    net = attach(args.lab)
    try:
        CLI(net)
    finally:
        net.stop()
    return 0


def cmd_emulate(args: argparse.Namespace) -> int:
    from labctl.impair.emulator.daemon import main as emulate
    return emulate(args.config)


def cmd_traffic(args: argparse.Namespace) -> int:
    """One flow of a scenario's kinds, in the foreground: its samples as they come, its summary at the end."""
    from pydantic import ValidationError

    from labctl.runtime.state import load
    from labctl.scenario import traffic
    from labctl.scenario.context import Context
    from labctl.scenario.steps.traffic import TrafficStep
    keys = {"traffic": "start", "id": "cli", "type": args.type, "from": args.src, "to": args.dst}
    keys |= {k: v for k, v in (("interval", args.interval), ("duration", args.duration), ("protocol", args.protocol),
                               ("bandwidth", args.bandwidth), ("parallel", args.parallel),
                               ("congestion", args.congestion), ("port", args.port)) if v is not None}
    try:
        step = TrafficStep.model_validate(keys)
    except ValidationError as exc:
        raise InputError([f"--{e['loc'][-1]}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]) from None
    ctx = Context(args.lab, load(args.lab)[1])
    out.print(traffic.start(ctx, step), highlight=False)
    flow, shown = ctx.flows["cli"], {}
    try:
        while flow.running():
            time.sleep(0.5)
            for key, points in flow.series().items():
                for t, value in points[shown.get(key, 0):]:
                    out.print(f"{t:7.2f} s  {key}: {value:.4g}", highlight=False)
                shown[key] = len(points)
    except KeyboardInterrupt:
        pass
    finally:
        record = traffic.stop_all(ctx)[0]
    out.print(f"{flow.describe()}: {flow.summary()}", highlight=False)
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(record), indent=1))
    return 0


_IMPAIR_KEYS = ("rate", "delay", "jitter", "loss", "queue", "aqm")


def cmd_impair(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from labctl.runtime import lab
    from labctl.topology.shaping import LinkShaping
    given = {key: getattr(args, key) for key in _IMPAIR_KEYS if getattr(args, key) is not None}
    if not given and not args.clear:
        raise InputError(["labctl impair: give the new conditions (--rate, --delay, --jitter, --loss, --queue, --aqm), "
                          "or --clear"])
    if given and args.clear:
        raise InputError(["labctl impair: --clear removes every condition; give it alone"])
    if args.sender not in (None, args.a, args.b):
        raise InputError([f"--from: '{args.sender}' is not an end of the link; give {args.a} or {args.b}"])
    try:
        conditions = LinkShaping.model_validate(given)
    except ValidationError as exc:
        raise InputError([f"--{'.'.join(map(str, e['loc'][-1:]))}: {e['msg'].removeprefix('Value error, ')} "
                          f"(got {e['input']!r})" for e in exc.errors()]) from None
    lab.require_root("labctl impair")
    changed = lab.impair(args.lab, args.a, args.b, conditions, only=args.sender)
    shown = lab.link_status(args.lab)
    for link in (shown[i] for i in changed):
        out.print(f"{link.a} - {link.b}: {link.shaping}" + "".join(f"\n  {by}" for by in link.shaped_by),
                  highlight=False)
    return 0


def cmd_bgp(args: argparse.Namespace) -> int:
    from labctl.runtime import lookingglass
    from labctl.runtime.lab import require_root
    from labctl.runtime.state import load
    prefix = _prefix(args.prefix, "bgp") if args.prefix else None
    require_root("labctl bgp")
    views = lookingglass.look(args.lab, load(args.lab)[1], prefix)
    if args.json:
        print(json.dumps({v.node: v.model_dump(exclude={"node"}) for v in views}, indent=1))
    else:
        out.print(lookingglass.render(args.lab, views, prefix))
    return 0


def _prefix(text: str, command: str):
    """The prefix given on the command line, or an InputError saying what would be one."""
    from ipaddress import ip_network
    try:
        return ip_network(text)
    except ValueError:
        try:
            hint = f": the prefix is {ip_network(text, strict=False)}"
        except ValueError:
            hint = "; give one like 10.0.1.0/24 or 2001:db8::/64"
        raise InputError([f"labctl {command}: '{text}' is not a prefix{hint}"]) from None


def cmd_graph(args: argparse.Namespace) -> int:
    from labctl.graph import render
    from labctl.runtime.state import list_labs
    plan, down = _plan_of(args.target)
    origins = None
    if args.prefix:
        from labctl.runtime import lookingglass
        from labctl.runtime.lab import require_root
        prefix = _prefix(args.prefix, "graph")
        if args.target not in list_labs():
            raise InputError([f"labctl graph --prefix: '{args.target}' is no running lab; who follows which origin "
                              "is a question for a running lab"])
        require_root("labctl graph --prefix")
        origins = {v.node: v.paths[0].origin if v.paths else None for v in lookingglass.look(args.target, plan, prefix)}
    path = render(plan, down, args.output, as_level=args.as_level or bool(args.prefix), origins=origins,
                  prefix=args.prefix)
    out.print(f"wrote {path}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    plan, _ = _plan_of(args.target)
    node = plan.node_named(args.node)
    services = [node.service_named(args.service)] if args.service else node.services
    files = [f for s in services for f in s.files if not f.executable]
    if not files:
        raise InputError([f"{args.node} has no generated configuration (it runs no service that has one)"])
    for file in files:
        out.print(f"[dim]# {file.path}[/]", highlight=False)
        out.print(file.content, markup=False, highlight=False, end="")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from labctl.topology.loader import load_yaml
    if "steps" in load_yaml(args.file).data:
        from labctl.scenario.load import load_scenario
        loaded = load_scenario(args.file)
        counts = ", ".join(f"{len(steps)} {phase}" for phase, steps in loaded.phases.items() if steps)
        out.print(f"{args.file}: valid scenario: {counts}" +
                  (f"; topology {loaded.topology}" if loaded.topology else ""))
        return 0
    topo, source = load_topology(args.file)
    plan = compile_plan(topo, source)
    if args.plan:
        print(plan.model_dump_json(indent=1))
    else:
        out.print(f"{args.file}: valid: {len(plan.nodes)} nodes, {len(plan.links)} links, "
                  f"{len(plan.subnets)} subnets")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from labctl import needs
    from labctl.kernel.probe import probe
    from labctl.runtime.lab import require_root
    require_root("labctl doctor")
    caps = probe()
    programs = {program: {"path": needs.installed(program), "package": package, "needed by": who}
                for program, (package, who) in needs.programs().items()}
    if args.json:
        print(json.dumps({"features": caps.features(), "programs": programs, "fallbacks": caps.fallbacks()},
                         indent=1))
        return 0
    table = Table(title="kernel features labctl uses", title_justify="left")
    table.add_column("feature")
    table.add_column("available")
    for name, ok in caps.features().items():
        table.add_row(name, "[green]yes[/]" if ok else "[red]no[/]")
    out.print(table)
    table = Table(title="programs", title_justify="left")
    for column in ("program", "needed by", "Debian package", "found"):
        table.add_column(column)
    for name, found in programs.items():
        table.add_row(name, found["needed by"], found["package"],
                      f"[green]{found['path']}[/]" if found["path"] else "[yellow]not installed: make setup[/]")
    out.print(table)
    for note in caps.fallbacks():
        out.print(f"[yellow]fallback:[/] {note}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from labctl.errors import CommandFailed
    from labctl.runtime import lab
    from labctl.runtime.commands import ping_all
    topo, source = load_topology(args.file)
    plan = compile_plan(topo, source, name=args.name)
    _check_lab_name(args.name)
    out.print(f"bringing up [bold]{plan.name}[/] from {args.file}")
    _bring_up(plan)
    try:
        results = ping_all(plan.name)
        failed = [r for r in results if not r.ok]
        table = Table(title=f"lab {plan.name}", title_justify="left")
        for column in ("node", "kind", "addresses"):
            table.add_column(column)
        for node in plan.nodes.values():
            table.add_row(node.name, node.kind, " ".join(node.addresses()))
        out.print(table)
        out.print(f"all-pairs ping: {len(results) - len(failed)}/{len(results)} pairs reached each other")
        for r in failed:
            out.print(f"[red]{r.src} -> {r.dst} failed[/]\n{r.output}")
    finally:
        lab.down(plan.name)
        out.print(f"lab {plan.name} torn down")
    if failed:
        raise CommandFailed(f"{len(failed)} pairs could not reach each other")
    return 0


def _run_suite(paths: list[str], lab: str | None, keep: bool = False, name: str | None = None):
    from labctl.scenario import console, suite
    _check_lab_name(name)
    return suite.run_all(suite.load_all(paths, lab), lab, keep, name, lambda title: console.progress(out, title))


def cmd_run(args: argparse.Namespace) -> int:
    from labctl.scenario import console, report
    from labctl.scenario.runner import Interrupted

    def write_reports(results: list) -> None:
        for path, write in ((args.junit, report.write_junit), (args.json, report.write_json),
                            (args.html, report.write_html)):
            if path:
                write(results, path)
                out.print(f"wrote {path}")
    try:
        results, built = _run_suite(args.paths, args.lab, args.keep, args.name)
    except Interrupted as exc:          # the reports get what ran; main() then says so and exits 130
        write_reports(exc.results)
        raise
    for result in results:
        console.failures(out, result)
    console.summary(out, results)
    write_reports(results)
    return 2 if not built else 0 if all(r.passed for r in results) else 1


def cmd_check(args: argparse.Namespace) -> int:
    from labctl.scenario import console, suite
    from labctl.scenario.runner import run_scenario
    if args.json:
        [loaded] = suite.load_all([args.file], args.lab)
        result = run_scenario(loaded, args.lab)
        print(json.dumps(console.score_json(result), indent=1))
    else:
        [result] = _run_suite([args.file], args.lab)[0]
        console.score(out, result)
    return 0 if result.passed else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="labctl", description="Network labs on Linux network namespaces.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="bring a lab up from a topology file")
    up.add_argument("file", nargs="?", help="topology YAML file")
    up.add_argument("--name", help="lab name (default: the topology's name)")
    up.add_argument("--mininet", metavar="SPEC", help="one of Mininet's topologies, e.g. tree,depth=2,fanout=3")
    up.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="remove a lab and everything it created")
    down.add_argument("lab", nargs="?")
    down.add_argument("--all", action="store_true", help="every running lab")
    down.set_defaults(func=cmd_down)

    sub.add_parser("clean", help="remove every lab labctl recorded: running, half-built or left by a crash") \
        .set_defaults(func=cmd_clean)

    status = sub.add_parser("status", help="nodes, interfaces, links and services, as they are now")
    status.add_argument("lab", nargs="?")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    conf = sub.add_parser("config", help="the configuration labctl generated for a node's services (FRR's frr.conf)")
    conf.add_argument("target", metavar="FILE|LAB")
    conf.add_argument("node")
    conf.add_argument("service", nargs="?", help="one service (default: all the node's services)")
    conf.set_defaults(func=cmd_config)

    logs = sub.add_parser("logs", help="a node's service logs: labctl logs LAB NODE [SERVICE] [-f]")
    logs.add_argument("lab")
    logs.add_argument("node")
    logs.add_argument("service", nargs="?", help="one service (default: all the node's services)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing what is added, until Ctrl-C")
    logs.add_argument("-n", "--lines", type=int, default=50, help="how many lines of the end (default 50)")
    logs.set_defaults(func=cmd_logs)

    ex = sub.add_parser("exec", help="run a command on a node: labctl exec LAB NODE -- CMD")
    ex.add_argument("lab")
    ex.add_argument("node")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    ex.set_defaults(func=cmd_exec)

    shell = sub.add_parser("shell", help="an interactive shell on a node")
    shell.add_argument("lab")
    shell.add_argument("node")
    shell.set_defaults(func=cmd_shell)

    cap = sub.add_parser("capture", help="capture packets with tcpdump on NODE:IFACE")
    cap.add_argument("lab")
    cap.add_argument("target", metavar="NODE:IFACE")
    cap.add_argument("-w", "--write", metavar="FILE", help="write a pcap file instead of printing")
    cap.add_argument("-c", "--count", type=int, help="stop after this many packets")
    cap.add_argument("filter", nargs="*", help="a tcpdump filter, e.g. icmp (last)")
    cap.set_defaults(func=cmd_capture)

    cli = sub.add_parser("cli", help="Mininet's CLI on a running lab")
    cli.add_argument("lab")
    cli.set_defaults(func=cmd_cli)

    em = sub.add_parser("emulate")         # the link emulator, as a lab runs it: not for users (no help)
    em.add_argument("config")
    em.set_defaults(func=cmd_emulate)

    tr = sub.add_parser("traffic", help="a flow between two nodes, in the foreground: ping, iperf3 or http")
    tr.add_argument("lab")
    tr.add_argument("type", metavar="TYPE", help="ping, iperf3 or http")
    tr.add_argument("src", metavar="FROM")
    tr.add_argument("dst", metavar="TO")
    tr.add_argument("--for", dest="duration", help="stop after this long, e.g. 10s (else at Ctrl-C)")
    tr.add_argument("--interval", help="ping, http: between probes, e.g. 50ms")
    tr.add_argument("--protocol", choices=("tcp", "udp"), help="iperf3")
    tr.add_argument("--bandwidth", help="iperf3 -b, e.g. 20mbit")
    tr.add_argument("--parallel", type=int, help="iperf3 -P: streams")
    tr.add_argument("--congestion", help="iperf3 -C: cubic, reno, bbr")
    tr.add_argument("--port", type=int)
    tr.add_argument("--json", metavar="FILE", help="write the flow's record (its series) as JSON")
    tr.set_defaults(func=cmd_traffic)

    imp = sub.add_parser("impair", help="new conditions for a running lab's link: rate, delay, loss, queue, AQM")
    imp.add_argument("lab")
    imp.add_argument("a", metavar="NODE")
    imp.add_argument("b", metavar="NODE", help="the link's two ends (every link between them)")
    imp.add_argument("--rate", help="e.g. 10mbit")
    imp.add_argument("--delay", help="one way, e.g. 20ms")
    imp.add_argument("--jitter", help="e.g. 2ms (with a delay)")
    imp.add_argument("--loss", help="random loss, e.g. 1%%")
    imp.add_argument("--queue", help="packets (100) or bytes (64kb)")
    imp.add_argument("--aqm", help="none, codel, fq_codel, red or prio")
    imp.add_argument("--from", dest="sender", metavar="NODE",
                     help="only what this end sends; the other direction is kept (else: both directions)")
    imp.add_argument("--clear", action="store_true", help="no conditions at all (with --from: in that direction)")
    imp.set_defaults(func=cmd_impair)

    bgp = sub.add_parser("bgp", help="looking glass: every BGP router's best path to a prefix, or to all of them")
    bgp.add_argument("lab")
    bgp.add_argument("prefix", nargs="?", help="e.g. 10.0.1.0/24 (default: every prefix, one column per router)")
    bgp.add_argument("--json", action="store_true")
    bgp.set_defaults(func=cmd_bgp)

    graph = sub.add_parser("graph", help="draw a topology file or running lab")
    graph.add_argument("target", metavar="FILE|LAB")
    graph.add_argument("-o", "--output", required=True, help="out.svg, out.png, out.pdf or out.dot")
    graph.add_argument("--as-level", action="store_true", help="the ASes and their relationships, not the nodes")
    graph.add_argument("--prefix", help="a running lab's AS graph, each AS coloured by the origin AS its best "
                                        "path to this prefix leads to (who follows a hijacker)")
    graph.set_defaults(func=cmd_graph)

    val = sub.add_parser("validate", help="check a topology or scenario file without building or running it")
    val.add_argument("file")
    val.add_argument("--plan", action="store_true", help="print the compiled plan as JSON")
    val.set_defaults(func=cmd_validate)

    sub.add_parser("doctor", help="kernel features and programs found, and the fallbacks that apply") \
        .set_defaults(func=cmd_doctor)
    sub.choices["doctor"].add_argument("--json", action="store_true")

    run = sub.add_parser("run", help="run scenario files, or suites (directories of them)")
    run.add_argument("paths", nargs="+", metavar="FILE|DIR")
    run.add_argument("--lab", help="run against this running lab instead of bringing the topology up")
    run.add_argument("--keep", action="store_true", help="leave the scenario's lab up afterwards")
    run.add_argument("--name", help="name of the lab a scenario brings up (default: its topology's name)")
    run.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    run.add_argument("--json", metavar="FILE", help="write the results as JSON")
    run.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="grade an exercise against a running lab")
    check.add_argument("file", metavar="FILE")
    check.add_argument("--lab", required=True, help="the student's running lab")
    check.add_argument("--json", action="store_true", help="print the score as JSON")
    check.set_defaults(func=cmd_check)

    demo = sub.add_parser("demo", help="bring up the default lab, ping all pairs, tear it down")
    demo.add_argument("file", nargs="?", default=str(TOPOLOGIES / "demo.yml"))
    demo.add_argument("--name", help="lab name (default: the topology's name)")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra and args.command != "capture" or any(e.startswith("-") for e in extra):
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.filter += extra
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.getLogger("labctl").addHandler(handler)
    logging.getLogger("labctl").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except InputError as exc:
        for message in exc.messages:
            err.print(message, markup=False, highlight=False)
        return exc.exit_code
    except LabctlError as exc:
        err.print(f"labctl: {exc}", markup=False, highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("labctl: interrupted")
        return 130
    except BrokenPipeError:             # `labctl status --json | head`: the reader left; so do we, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:            # a bug: say so in one line; -v shows where
        logging.getLogger("labctl").debug("internal error", exc_info=True)
        err.print(f"labctl: internal error ({type(exc).__name__}: {exc}); this is a bug in labctl"
                  + ("" if args.verbose else ", `labctl -v ...` shows where"), markup=False, highlight=False)
        return 70


if __name__ == "__main__":
    sys.exit(main())
