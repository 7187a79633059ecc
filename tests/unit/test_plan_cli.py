"""`pricewise plan` on the shipped examples, as a newcomer runs it."""

from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from factory import NOW as AT
from factory import gpu_nodes, job, option, pool, snapshot
from fake_kube import FakeKube

from pricewise import cli, kube
from pricewise.api import podfields
from pricewise.api.manifests import ManifestError, load_yaml, read_objects
from pricewise.cli import main
from pricewise.controller.cache import Cache
from pricewise.controller.config import OperatorConfig
from pricewise.core import cpsat, solver
from pricewise.core.lookahead import LookAhead
from pricewise.core.snapshot import Release, Resources
from pricewise.core.solver import solve
from pricewise.offline.plan import decision_dict

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-29T12:00:00Z"


def pricewise(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pricewise", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_plan_examples_json() -> None:
    result = pricewise("plan", "examples/", "--now", NOW, "-o", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    jobs = {j["name"]: j for j in plan["jobs"]}
    assert jobs["llm-finetune"]["pool"] == "tpu-v5e"
    assert jobs["llm-pretrain-urgent"]["pool"] == "nvidia-h100"
    assert jobs["resnet50-imagenet"]["pool"] == "nvidia-l4"
    assert jobs["resnet50-imagenet"]["workers"] == 4
    assert jobs["distill-spot"]["pool"] == "nvidia-h100-spot"
    assert jobs["detector-sweep"]["reason"] == "BudgetExceeded"
    assert jobs["moe-pretrain"]["reason"] == "DeadlineUnreachable"
    assert jobs["ablation-small"]["reason"] == "NotWorthRunning"
    assert plan["solver"]["status"] == "optimal"
    assert plan["totalCost"] == round(sum(j["cost"] or 0 for j in plan["jobs"]), 6)
    assert {row["verdict"] for row in jobs["llm-finetune"]["options"]} == {
        "chosen",
        "feasible",
        "excluded",
    }


def test_plan_table_and_yaml() -> None:
    table = pricewise("plan", "examples/", "--now", NOW, "-v")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split()[:3] == ["JOB", "POOL", "WORKERS"]
    assert "5 of 8 job(s) placed" in table.stdout
    assert "team-nlp/llm-finetune options:" in table.stdout
    assert pricewise("plan", "examples/", "--now", NOW, "-o", "yaml").stdout.startswith("now: ")


def test_the_table_keeps_messages_short_and_verbose_prints_them_whole() -> None:
    # Messages of up to 220 characters made every row of the table wrap.
    table = pricewise("plan", "examples/", "--now", NOW).stdout
    header, *rows = table.split("\n\n")[0].splitlines()
    column = header.index("MESSAGE")
    assert max(len(row) for row in rows) - column <= 60
    assert sum(row.endswith("...") for row in rows) == 8
    assert "(MESSAGE cut at 60 characters: -o wide, -v, -o yaml or -o json show it all)" in table
    plan = json.loads(pricewise("plan", "examples/", "--now", NOW, "-o", "json").stdout)
    full = next(j["message"] for j in plan["jobs"] if j["name"] == "llm-finetune")
    assert len(full) > 60
    verbose = pricewise("plan", "examples/", "--now", NOW, "-v").stdout
    assert f"\nteam-nlp/llm-finetune options:\nmessage: {full}\nPOOL " in verbose
    assert "(MESSAGE cut" not in verbose


def test_wide_output_is_the_table_with_every_message_whole() -> None:
    # kubectl users reach for `-o wide` to see a table uncut; plan refused it.
    wide = pricewise("plan", "examples/", "--now", NOW, "-o", "wide")
    assert wide.returncode == 0, wide.stderr
    plan = json.loads(pricewise("plan", "examples/", "--now", NOW, "-o", "json").stdout)
    header, *rows = wide.stdout.split("\n\n")[0].splitlines()
    assert header.split() == ["JOB", "POOL", "WORKERS", "COST", "DURATION", "START", "REASON",
                              "MESSAGE"]  # fmt: skip
    column = header.index("MESSAGE")
    assert [row[column:] for row in rows] == [j["message"] for j in plan["jobs"]]
    assert "(MESSAGE cut" not in wide.stdout
    assert "5 of 8 job(s) placed" in wide.stdout
    usage = pricewise("plan", "--help").stdout
    assert "-o {table,wide,json,yaml}" in usage
    assert "wide (the table with each MESSAGE whole)" in " ".join(usage.split())


def test_several_solver_workers_plan_the_same_examples() -> None:
    args = ("plan", "examples/", "--now", NOW, "-o", "json")
    one = json.loads(pricewise(*args).stdout)
    two = pricewise(*args, "--solver-workers", "2")
    assert two.returncode == 0, two.stderr
    placed = {j["name"]: (j["pool"], j["workers"], j["cost"]) for j in one["jobs"]}
    assert {
        j["name"]: (j["pool"], j["workers"], j["cost"]) for j in json.loads(two.stdout)["jobs"]
    } == placed
    bad = pricewise(*args, "--solver-workers", "0")
    assert bad.returncode == 2
    assert "--solver-workers: '0' is not a whole number from 1 to 64" in bad.stderr


def test_plan_counts_waits_as_the_operator_does_unless_told_otherwise() -> None:
    # The operator's default; for a quote, the operator's own setting; --wait-cost over both.
    given = cli.parser().parse_args(["plan", "x"])
    assert cli._solver_settings(given).look_ahead.wait_cost == LookAhead.wait_cost
    assert f"default {LookAhead.wait_cost:g};" in " ".join(
        pricewise("plan", "--help").stdout.split()
    )
    operator = OperatorConfig(wait_cost=1.5, max_wait_s=7_200.0)
    quoted = cli._solver_settings(given, operator).look_ahead
    assert (quoted.wait_cost, quoted.max_wait_s) == (1.5, 7_200.0)
    free = cli.parser().parse_args(["plan", "x", "--wait-cost", "0"])
    assert cli._solver_settings(free, operator).look_ahead.wait_cost == 0.0
    bad = pricewise("plan", "examples/", "--wait-cost", "-1")
    assert bad.returncode == 2
    assert "--wait-cost: '-1' is not a share from 0 to 10, such as 0.3" in bad.stderr
    # The operator's bounds: 10 is the most it takes.
    assert cli.parser().parse_args(["plan", "x", "--wait-cost", "10"]).wait_cost == 10.0
    over = pricewise("plan", "examples/", "--wait-cost", "10.5")
    assert over.returncode == 2
    assert "--wait-cost: '10.5' is not a share from 0 to 10, such as 0.3" in over.stderr


def test_ctrl_c_stops_a_command_and_its_solve(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # CP-SAT's own SIGINT handler ended its search only: `plan` printed the cut-short plan and
    # exited 0. Elsewhere Ctrl-C printed a traceback.
    assert cpsat.cp_solver(1, 0, 1.0).parameters.catch_sigint_signal is False

    def interrupted(given: list[str]) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_dispatch", interrupted)
    assert main(["plan", "examples/"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_a_closed_pipe_ends_the_output_without_a_traceback() -> None:
    # `pricewise plan -v examples/ | head`: the reader is gone before the plan is printed.
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "w") as closed:
        result = subprocess.run(
            [sys.executable, "-m", "pricewise", "plan", "-v", "examples/", "--now", NOW],
            stdout=closed,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            check=False,
        )
    assert result.returncode == 141
    assert "Traceback" not in result.stderr


def test_invalid_manifest_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "job.yaml"
    bad.write_text(
        "apiVersion: pricewise.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: x}\n"
        "spec:\n  workers: {min: 3, max: 1}\n  options: [{accelerator: nvidia-l4, duration: 1h}]\n"
    )
    result = pricewise("plan", str(bad), "examples/pricetable.yaml")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        "spec.workers: workers.min (3) must be less than or equal to workers.max (1)"
        in result.stderr
    )


def test_every_bad_object_is_listed_with_its_name_field_and_fix(tmp_path: Path) -> None:
    # Only the first was reported, in pydantic's words: "Extra inputs are not permitted", a
    # regex, `spec.pools[1]`, and a cluster-scoped PriceTable called `default/prices`.
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(
        "apiVersion: pricewise.dev/v1alpha1\nkind: TrainingJob\n"
        "metadata: {name: x, namespace: team-nlp}\nspec:\n  maxDuraton: 8h\n"
        "  options: [{accelerator: Nvidia-L4, duration: 1h}]\n"
        "  template: {spec: {containers: [{name: t, image: t}]}}\n"
    )
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "apiVersion: pricewise.dev/v1alpha1\nkind: PriceTable\nmetadata: {name: prices}\n"
        "spec:\n  pools:\n  - {name: l4, accelerator: nvidia-l4, nodeSelector: {a: b}, "
        "prices: {perDeviceHour: 1}}\n  - {name: h100, accelerator: nvidia-h100, "
        "nodeSelector: {a: c}, prices: {perDeviceHour: -1}}\n"
    )
    result = pricewise("plan", str(jobs), str(prices), "--now", NOW)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "error: 2 errors in the files:",
        f"  {jobs}: TrainingJob team-nlp/x:",
        "    spec.options[0].accelerator: 'Nvidia-L4' is not valid: use lowercase letters, "
        "digits, '-' and '.', e.g. nvidia-l4",
        "    spec.maxDuraton: unknown field; did you mean maxDuration?",
        f"  {prices}: PriceTable prices:",
        '    spec.pools[name="h100"].prices.perDeviceHour: must be >= 0 (got -1)',
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "kind: Node\nmetadata: {name: n, labels: [a]}",
            "Node n: metadata.labels must be a map, not list",
        ),
        ("kind: Node\nmetadata: {labels: {a: b}}", "Node ?: metadata.name is required"),
        (
            "kind: Node\nmetadata: {name: n}\nstatus: {conditions: [Ready]}",
            "Node n: status.conditions[0] must be a map, not str",
        ),
        (
            "kind: Pod\nmetadata: {name: p}\nspec: {nodeName: [n]}",
            "Pod default/p: spec.nodeName must be text, not list",
        ),
        (
            "kind: ResourceQuota\nmetadata: {name: q}\nspec: {hard: {pods: 1}, scopeSelector: "
            "{matchExpressions: [x]}}",
            "ResourceQuota default/q: spec.scopeSelector.matchExpressions[0] must be a map, "
            "not str",
        ),
        (
            "kind: ResourceQuota\nmetadata: {name: q}\nspec: {hard: {pods: true}}",
            "ResourceQuota default/q: spec.hard.pods: True is not a quantity",
        ),
        (
            "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{resources: {requests: [1]}}]}",
            "Pod default/p: spec.containers[0].resources.requests must be a map, not list",
        ),
        (
            "kind: Budget\napiVersion: pricewise.dev/v1alpha1\nmetadata: {name: b}\nspec: [x]",
            "Budget default/b: spec must be a map, not list",
        ),
    ],
)
def test_an_object_of_the_wrong_form_in_a_file_is_named_with_its_field(
    tmp_path: Path, text: str, says: str
) -> None:
    # Each ended `pricewise plan` in a Python traceback.
    odd = tmp_path / "odd.yaml"
    odd.write_text(f"apiVersion: v1\n{text}\n" if "apiVersion" not in text else text + "\n")
    result = pricewise("plan", "examples/", str(odd))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {odd}: {says}")


def test_figures_pricewise_cannot_read_and_a_job_given_twice_are_clear_errors(
    tmp_path: Path,
) -> None:
    quota = tmp_path / "quota.yaml"
    quota.write_text(
        "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q, namespace: team-nlp}\n"
        "spec: {hard: {requests.nvidia.com/gpu: lots}}\n"
    )
    result = pricewise("plan", "examples/", str(quota))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"error: {quota}: ResourceQuota team-nlp/q: spec.hard.requests.nvidia.com/gpu: 'lots' "
        "is not a quantity"
    )
    again = tmp_path / "jobs.yaml"
    shutil.copy(ROOT / "examples" / "jobs.yaml", again)
    result = pricewise("plan", "examples/", str(again))
    assert result.returncode == 2
    assert "is also in examples/jobs.yaml: keep one" in result.stderr
    # One file given by name and through its folder is one file, read once.
    result = pricewise("plan", "examples/", "examples/jobs.yaml")
    assert (result.returncode, result.stderr) == (0, "")


def test_objects_of_a_kind_plan_does_not_read_are_named_with_the_kind_meant(
    tmp_path: Path,
) -> None:
    # `kind: BudGet` left both budgets out of the plan without a word, and its jobs were
    # planned over them; a ConfigMap alone gave an empty table, and exit 0.
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text((ROOT / "examples" / "budgets.yaml").read_text().replace("Budget", "BudGet"))
    other = tmp_path / "other.yaml"
    other.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\n"
        "kind: List\nitems: [{apiVersion: v1, kind: trainingjob, metadata: {name: s}}]\n"
    )
    # examples/ holds ResourceMix files too, which `plan mix` reads: not a word of them.
    result = pricewise("plan", "examples/", str(budgets), str(other), "--now", NOW)
    assert result.returncode == 0, result.stderr
    skipped = "warning: skipped {} of a kind pricewise does not read: {}"
    assert result.stderr.splitlines() == [
        skipped.format("2 objects", "BudGet (did you mean Budget?)"),
        skipped.format("1 object", "ConfigMap"),
        skipped.format("1 object", "trainingjob (did you mean TrainingJob?)"),
    ]
    # A misspelt kind leaves nothing to plan: an error, as `kubectl apply` of no object is.
    alone = pricewise("plan", str(other), "examples/pricetable.yaml", "examples/cluster/")
    assert alone.returncode == 2 and alone.stdout == ""
    assert alone.stderr.splitlines()[-3:] == [
        "error: no TrainingJob given: nothing to plan; pass the jobs' manifests too",
        "  " + skipped.format("1 object", "ConfigMap").removeprefix("warning: "),
        "  "
        + skipped.format("1 object", "trainingjob (did you mean TrainingJob?)").removeprefix(
            "warning: "
        ),
    ]
    # --cluster reads the files before the cluster: no cluster is needed to be told.
    quote = pricewise("plan", "--cluster", str(other))
    assert (quote.returncode, quote.stderr.splitlines()[:2]) == (2, [
        "error: no TrainingJob given: --cluster quotes new TrainingJobs",
        "  " + skipped.format("1 object", "ConfigMap").removeprefix("warning: "),
    ])  # fmt: skip
    other.write_text("apiVersion: v1\nkind: List\nitems: [3]\n")  # was a traceback
    broken = pricewise("plan", str(other), "examples/")
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert f"{other}: every item of a List must be an object with a kind" in broken.stderr
    # Which document of many: it said only that one was wrong.
    other.write_text("kind: ConfigMap\n---\nkind: ConfigMap\n---\n- a list\n")
    broken = pricewise("plan", str(other), "examples/")
    assert f"{other}: document 3 of 3 is not a Kubernetes object with a kind" in broken.stderr


def test_no_price_table_names_a_kind_skipped_that_may_be_it(tmp_path: Path) -> None:
    # The error stopped the plan before the warnings, so the typo in `kind` went unsaid.
    prices = tmp_path / "prices.yaml"
    prices.write_text((ROOT / "examples/pricetable.yaml").read_text().replace("PriceT", "Pricet"))
    result = pricewise("plan", "examples/jobs.yaml", str(prices))
    assert (result.returncode, result.stderr.splitlines()) == (2, [
        "error: no PriceTable given: pricewise needs prices to compare pools",
        "  skipped 1 object of a kind pricewise does not read: Pricetable (did you mean "
        "PriceTable?)",
    ])  # fmt: skip


def test_plan_cluster_without_a_cluster_says_where_it_looked(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pricewise", "plan", "--cluster", "examples/jobs.yaml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={**os.environ, "KUBECONFIG": str(tmp_path / "none")},
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == (
        f"error: cannot read the cluster: no kubeconfig at {tmp_path / 'none'} (from "
        "$KUBECONFIG); point KUBECONFIG at your cluster's kubeconfig\n"
    )


def _quote_against(
    handler: type[BaseHTTPRequestHandler], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> int:
    """`pricewise plan --cluster` of the example jobs against a local server answering as
    `handler` does, the kubeconfig's cluster; asserts it exits 2, and gives the server's port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        f"apiVersion: v1\nclusters: [{{name: x, cluster: {{server: "
        f"'http://127.0.0.1:{server.server_port}'}}}}]\ncurrent-context: c\n"
        "contexts: [{name: c, context: {cluster: x, user: u}}]\nusers: [{name: u, user: {}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    try:
        assert main(["plan", "--cluster", str(ROOT / "examples" / "jobs.yaml")]) == 2
    finally:
        server.shutdown()
        server.server_close()
    return server.server_port


def test_a_cluster_without_the_crds_says_what_it_asked_and_how_to_install_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An API server without pricewise's kinds: a 404 said neither what was asked nor why.
    class Server(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/apis/"):
                answer: dict[str, Any] = {"kind": "Status", "code": 404, "details": {},
                                          "message": "the server could not find the requested "
                                          "resource"}  # fmt: skip
            else:
                answer = {"kind": "List", "items": []}
            body = json.dumps(answer).encode()
            self.send_response(404 if self.path.startswith("/apis/") else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    _quote_against(Server, tmp_path, monkeypatch)
    assert capsys.readouterr().err == (
        "error: cannot read the cluster: GET /apis/pricewise.dev/v1alpha1/pricetables: HTTP 404: "
        "the server could not find the requested resource; the pricewise CRDs are not "
        "installed: kubectl apply -f crds/\n"
    )


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ("html", ": HTTP 502: the answer is "
         "text/html, not the API server's JSON: is http://127.0.0.1:PORT the cluster's API "
         "server (the kubeconfig's server)?\n"),
        ("hang up", "Server disconnected (--cluster uses the kubeconfig as kubectl finds it: "
         "$KUBECONFIG, or ~/.kube/config)\n"),
    ],
)  # fmt: skip
def test_a_server_that_is_not_the_api_server_is_one_error_line(
    answer: str,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A proxy's error page ended in a JSONDecodeError traceback, a dropped connection in
    # aiohttp's ServerDisconnectedError.
    class Server(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if answer == "hang up":
                self.close_connection = True
                return
            body = b"<html><body>502 Bad Gateway</body></html>"
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    port = _quote_against(Server, tmp_path, monkeypatch)
    err = capsys.readouterr().err  # of the requests made at once, the first to fail is named
    assert err.startswith("error: cannot read the cluster: ") and err.count("\n") == 1
    assert err.endswith(says.replace("PORT", str(port)))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("clusters: [\n  - bad: {\n", "is not valid YAML: expected the node content, but found "
         "'-' at line 2, column 3; fix it, or point KUBECONFIG at another file"),
        ("- a list\n", "is not a kubeconfig (list indices must be integers or slices, not str); "
         "compare it with the output of `kubectl config view`"),
        ("apiVersion: v1\nclusters: [{name: x, cluster: {}}]\ncurrent-context: c\n"
         "contexts: [{name: c, context: {cluster: x, user: u}}]\nusers: [{name: u, user: {}}]\n",
         ": the current context's cluster has no server"),
    ],
    ids=["not-yaml", "not-a-mapping", "no-server"],
)  # fmt: skip
def test_a_malformed_kubeconfig_is_one_error_line_naming_it(
    text: str,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A kubeconfig PyYAML cannot parse, or of another shape, ended in a traceback.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(text)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert main(["plan", "--cluster", str(ROOT / "examples" / "jobs.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot read the cluster: kubeconfig {kubeconfig}")
    assert says in err and err.count("\n") == 1


def test_missing_file() -> None:
    result = pricewise("plan", "no-such-file.yaml")
    assert result.returncode == 2 and "cannot read" in result.stderr


@pytest.mark.parametrize("command", [["plan"], ["plan", "mix"], ["prices", "init"]])
def test_a_file_not_in_utf8_is_named_not_a_traceback(tmp_path: Path, command: list[str]) -> None:
    saved = tmp_path / "nodes.yaml"  # as Windows PowerShell 5's `>` writes it
    saved.write_text("apiVersion: v1\nkind: List\nitems: []\n", encoding="utf-16")
    result = pricewise(*command, str(saved))
    assert result.returncode == 2
    assert (
        result.stderr
        == f"error: {saved}: not UTF-8 text; save it as UTF-8 (PowerShell 5's `>` writes UTF-16)\n"
    )


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("tomorrow", "is not an RFC 3339 time"),
        ("", "is not an RFC 3339 time"),
        # Python's reading took these: a date alone as midnight, a compact form, a week day.
        ("2026-12-04", "is not an RFC 3339 time"),
        ("20261204T1200", "is not an RFC 3339 time"),
        ("2026-W49-5", "is not an RFC 3339 time"),
        # An OverflowError's traceback: a Budget's period ended past the years a datetime holds.
        ("9999-12-31T23:00:00Z", "is out of range: give a time from 1970"),
        ("1969-12-31T23:00:00Z", "is out of range: give a time from 1970"),
    ],
)
def test_a_bad_now_is_an_error_as_other_options_are(
    value: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # It exited 1 with the message alone (no `error:`), and an empty one with an
    # AssertionError's traceback.
    with pytest.raises(SystemExit) as stopped:
        main(["plan", "examples/", "--now", value])
    assert stopped.value.code == 2
    assert f"error: argument --now: {value!r} {says}" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "soon"])
@pytest.mark.parametrize("command", [["plan", "examples/"], ["simulate", "x.trace"]])
def test_plan_and_simulate_refuse_the_same_time_limits_in_the_same_words(
    command: list[str], value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # plan took -1, 0 and nan and planned greedily or unproved without a word; simulate
    # refused them (but took inf).
    with pytest.raises(SystemExit) as stopped:
        main([*command, "--time-limit", value])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"error: argument --time-limit: {value!r} is not a number of seconds from 0.001" in err


def test_spot_risk_in_the_options_table(tmp_path: Path) -> None:
    # The example's H100 spot pool reclaimed 0.1 times a node-hour. distill-spot's 5 h run on
    # one 8-GPU node: e^0.5 - 1 = 0.649 / 0.1 = 6.49 h expected, 79.05 USD at list. At 90 %
    # it is reclaimed at most twice (P = 0.972), losing all 5 h each time: 15 h, past its
    # maxDuration of 10 h. With 30-minute checkpoints: 10 x (e^0.05 - 1) / 0.1 = 5.13 h, at
    # most one reclaim of 30 min (P = 0.906): 5.5 h, so it runs on spot.
    examples = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", examples)
    table = examples / "pricetable.yaml"
    spot_price = "      prices: {perDeviceHour: 1.97614}\n"
    table.write_text(
        table.read_text().replace(spot_price, spot_price + "      interruptionRate: 0.1\n")
    )

    def distill() -> dict[str, Any]:
        result = pricewise("plan", str(examples), "--now", NOW, "-o", "json")
        assert result.returncode == 0, result.stderr
        return next(j for j in json.loads(result.stdout)["jobs"] if j["name"] == "distill-spot")

    job = distill()
    spot = next(r for r in job["options"] if r["pool"] == "nvidia-h100-spot")
    assert spot["listCost"] == 79.0456  # 5 h x 8 x 1.97614
    assert spot["cost"] == pytest.approx(math.expm1(0.5) / 0.1 * 8 * 1.97614, abs=1e-4)
    assert spot["verdict"] == "excluded"
    assert "needs 15h, 5h over maxDuration 10h" in spot["note"]
    assert job["pool"] == "nvidia-a100-80gb"
    assert all("listCost" not in r for r in job["options"] if r["capacityType"] == "on-demand")
    verbose = pricewise("plan", str(examples), "--now", NOW, "-v").stdout
    tables = dict(part.split(" options:\n", 1) for part in verbose.split("\n\n")[2:])
    assert tables["team-nlp/distill-spot"].splitlines()[1].split()[:6] == [
        "POOL", "KIND", "WORKERS", "COST", "LIST", "DURATION"]  # fmt: skip
    assert "LIST" not in tables["team-nlp/tokenizer-train"]  # no spot option: no column of "-"

    jobs = examples / "jobs.yaml"
    jobs.write_text(
        jobs.read_text().replace(
            "spec:\n  allowSpot: true\n",
            "spec:\n  allowSpot: true\n  checkpoint: {interval: 30m}\n",
        )
    )
    job = distill()
    assert job["pool"] == "nvidia-h100-spot"
    assert job["cost"] == pytest.approx(10 * math.expm1(0.05) / 0.1 * 8 * 1.97614, abs=1e-4)
    table_out = pricewise("plan", str(examples), "--now", NOW, "-v").stdout
    row = next(
        line.split()
        for line in table_out.split("team-nlp/distill-spot options:")[1].splitlines()
        if line.startswith("nvidia-h100-spot")
    )
    assert row[:6] == ["nvidia-h100-spot", "spot", "1", "81.06", "USD", "79.05"]


def test_a_late_job_that_runs_late_is_planned(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", examples)
    late = (
        "---\napiVersion: pricewise.dev/v1alpha1\nkind: TrainingJob\n"
        "metadata: {name: late-eval, namespace: team-nlp}\n"
        "spec:\n  deadline: '2026-11-29T11:00:00Z'\n  whenLate: WHEN\n"
        "  options: [{accelerator: nvidia-l4, devicesPerWorker: 1, duration: 1h}]\n"
        "  template: {spec: {containers: [{name: t, image: example.com/eval:1}]}}\n"
    )
    jobs = examples / "jobs.yaml"
    text = jobs.read_text()

    def late_eval(when: str) -> dict[str, Any]:
        jobs.write_text(text + late.replace("WHEN", when))
        result = pricewise("plan", str(examples), "--now", NOW, "-o", "json")
        assert result.returncode == 0, result.stderr
        return next(j for j in json.loads(result.stdout)["jobs"] if j["name"] == "late-eval")

    assert late_eval("Wait")["reason"] == "DeadlineUnreachable"
    runs = late_eval("Run")
    assert (runs["reason"], runs["pool"]) == ("Admitted", "nvidia-l4")
    assert runs["message"].endswith("its deadline 11:00 UTC can no longer be met: it runs late "
                                    "(whenLate: Run)")  # fmt: skip


def test_warnings_come_before_the_table_on_stderr_and_missing_nodes_once() -> None:
    # They were the table's last lines on stdout, `no Node given` last of all, after a
    # "matches no node" line per pool that it explains; `> plan.txt` kept them in the plan.
    args = ("plan", "examples/jobs.yaml", "examples/pricetable.yaml", "--now", NOW)
    both = subprocess.run([sys.executable, "-m", "pricewise", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, cwd=ROOT, check=False)  # fmt: skip
    assert both.returncode == 0, both.stdout
    first, header = both.stdout.splitlines()[:2]
    assert first == "warning: no Node given: pass the output of `kubectl get nodes -o yaml`"
    assert header.split()[:2] == ["JOB", "POOL"]
    assert "matches no node" not in both.stdout
    apart = pricewise(*args)
    assert "warning" not in apart.stdout and apart.stderr.startswith("warning: no Node given")
    data = pricewise(*args, "-o", "json")
    assert json.loads(data.stdout)["warnings"] == [first.removeprefix("warning: ")]
    assert data.stderr == first + "\n"


def test_a_typo_in_a_job_s_pod_template_is_pointed_out(tmp_path: Path) -> None:
    # kubectl applies it (the CRD keeps the template as written) and the API server, asked
    # strictly, refuses its workers: `plan` says so first, with the field meant.
    job = tmp_path / "job.yaml"
    job.write_text(
        "apiVersion: pricewise.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: x}\nspec:\n"
        "  options: [{accelerator: nvidia-l4, duration: 1h}]\n"
        "  template: {spec: {containers: [{name: t, image: i, comand: [python],\n"
        "    env: [{name: A, valeu: '1'}], resources: {requests: {memroy: 4Gi}}}]}}\n"
    )
    result = pricewise("plan", str(job), "examples/pricetable.yaml", "--now", NOW, "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["warnings"] == [
        "TrainingJob default/x: spec.template.spec.containers[0].comand (did you mean command?), "
        "spec.template.spec.containers[0].env[0].valeu (did you mean value?), "
        "spec.template.spec.containers[0].resources.requests.memroy (did you mean memory?): not "
        "a field of a pod in the Kubernetes API; the API server refuses its workers "
        "(WorkerRejected) until it is fixed",
        "no Node given: pass the output of `kubectl get nodes -o yaml`",
    ]


def test_a_pool_without_prices_is_pointed_out(tmp_path: Path) -> None:
    table = tmp_path / "prices.yaml"
    table.write_text(
        "apiVersion: pricewise.dev/v1alpha1\nkind: PriceTable\nmetadata: {name: p}\nspec:\n"
        "  pools: [{name: l4, accelerator: nvidia-l4, nodeSelector: {pool: l4}, prices: {}}]\n"
    )
    result = pricewise("plan", str(table), "examples/jobs.yaml", "--now", NOW, "-o", "json")
    assert result.returncode == 0, result.stderr
    assert any(w.startswith("pool l4 has no price") for w in json.loads(result.stdout)["warnings"])
    # A cpu pool priced per device: its workers ask for none, so it was free without a word.
    pools = "[{name: c, accelerator: cpu, nodeSelector: {pool: c}, prices: {perDeviceHour: %s}}]"
    # 0: a free pool, as meant; the other prices written out as 0 leave it free all the same.
    for price, warned in (("0.05", True), ("0", False), ("0.05, perCpuHour: 0", True)):
        table.write_text(table.read_text().split("  pools:")[0] + f"  pools: {pools % price}\n")
        result = pricewise("plan", str(table), "examples/jobs.yaml", "--now", NOW, "-o", "json")
        warnings = json.loads(result.stdout)["warnings"]
        said = "pool c is priced perDeviceHour only, but a cpu pool's workers ask for no GPU"
        assert any(w.startswith(said) for w in warnings) is warned, warnings


def test_an_option_whose_accelerator_no_pool_offers_is_pointed_out(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(
        "apiVersion: pricewise.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: x}\nspec:\n"
        "  options: [{accelerator: nvidia-l4, duration: 1h}, {accelerator: nvidia-a100, "
        "duration: 1h}]\n  template: {spec: {containers: [{name: trainer, image: trainer}]}}\n"
    )
    result = pricewise("plan", str(job), "examples/pricetable.yaml", "examples/cluster/",
                       "--now", NOW, "-o", "json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    # In the job's message, as the operator writes it in the status: not only a warning.
    (decided,) = json.loads(result.stdout)["jobs"]
    assert decided["message"].endswith(
        "; options[1] asks for nvidia-a100 (did you mean nvidia-a100-80gb?), which no pool "
        "offers (pools offer: cpu, "
        "nvidia-a100-80gb, nvidia-h100, nvidia-l4, tpu-v5e)"
    ), decided["message"]


def test_a_planned_option_finishes_after_its_planned_start() -> None:
    # The row's finish was counted from now: a job planned for 13:00 "finished" at 13:00.
    full = Resources(cpu=96_000, memory=1024 * 1024, gpu=8)
    busy = tuple(replace(n, free=replace(full, gpu=0)) for n in gpu_nodes("l4", 1))
    frees = (Release(AT + timedelta(hours=1), full, (("l4-0", full),)),)
    l4 = replace(pool("l4", "nvidia-l4", 1.0, busy), releases=frees)
    (decision,) = solve(snapshot([l4], [job("j", option("nvidia-l4", 1000))])).decisions
    assert decision.reason == "Reserved"
    (row,) = [r for r in decision_dict(decision, AT, "USD")["options"] if r["verdict"] == "planned"]
    # One form of time, as the status writes it.
    assert (row["start"], row["finish"]) == ("2026-11-29T13:00:00Z", "2026-11-29T14:00:00Z")


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        (
            "timeZone",
            "Mars/Olympus",
            "spec.timeZone: unknown time zone 'Mars/Olympus': use an "
            "IANA name such as UTC or Europe/Paris",
        ),
        ("currency", "EUR", "spec.currency: EUR is not the prices' currency; set USD"),
    ],
    ids=["unknown-time-zone", "foreign-currency"],
)
def test_a_budget_pricewise_cannot_count_holds_its_namespace_when_hard_as_the_operator_does(
    field: str, value: str, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The time zone stopped the whole plan (exit 2); a hard budget in another currency was
    # ignored with a warning and its namespace's jobs planned, which the operator holds.
    examples = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", examples)
    budgets = examples / "budgets.yaml"
    # team-vision's budget is hard, team-nlp's soft: both get the same fault.
    # A field the budgets give (currency) is replaced, not given twice: that is an error.
    text = budgets.read_text()
    given = re.search(rf"^  {field}: .*$", text, re.MULTILINE)
    line = given[0] if given else "  period: month"
    budgets.write_text(text.replace(f"{line}\n", f"  {field}: {value}\n"))
    assert main(["plan", str(examples), "--now", NOW, "-o", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    jobs = {j["name"]: j for j in plan["jobs"]}
    for held in ("resnet50-imagenet", "detector-sweep", "ablation-small"):
        assert (jobs[held]["reason"], jobs[held]["pool"]) == ("BudgetInvalid", None)
        assert jobs[held]["message"].startswith(f"Budget monthly: {why}. pricewise cannot ")
    assert jobs["llm-finetune"]["pool"] == "tpu-v5e"  # a soft budget only alerts: planned
    assert len(plan["jobs"]) == 8
    vision, nlp = (w for w in plan["warnings"] if "Budget team-" in w)
    assert vision.endswith("the namespace's jobs wait") and "team-vision" in vision
    assert nlp.endswith("it does not alert") and "team-nlp" in nlp
    if field == "timeZone":
        assert vision.startswith(f"{budgets}: Budget team-vision/monthly: invalid spec: {why}")


def example_cluster(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    """The examples' price table and nodes, as the cluster `plan --cluster` reads."""
    cluster = FakeKube(Cache())
    for obj in [
        *read_objects(ROOT / "examples" / "pricetable.yaml"),
        *read_objects(ROOT / "examples" / "cluster" / "nodes.yaml"),
    ]:
        cluster.put({"PriceTable": "pricetables", "Node": "nodes"}[obj["kind"]], obj)
    monkeypatch.setattr(kube, "load_configuration", lambda: None)
    monkeypatch.setattr(kube, "Kube", lambda _: cluster)
    return cluster


def test_plan_cluster_names_a_kind_skipped_as_plan_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `plan --cluster` built its warnings alone and said nothing of a `kind: BudGet`, which
    # `plan` with the same files names.
    example_cluster(monkeypatch)
    typo = tmp_path / "budget.yaml"
    typo.write_text(
        (ROOT / "examples" / "budgets.yaml").read_text().replace("kind: Budget", "kind: BudGet")
    )
    assert (
        main(["plan", "--cluster", str(ROOT / "examples" / "jobs.yaml"), str(typo), "--now", NOW])
        == 0
    )
    warned = "skipped 2 objects of a kind pricewise does not read: BudGet (did you mean Budget?)"
    assert f"warning: {warned}\n" in capsys.readouterr().err


@pytest.mark.parametrize(("pending", "solves"), [((), 1), (("ns/other",), 2)])
def test_plan_cluster_plans_the_cluster_without_the_files_only_where_a_job_could_move(
    monkeypatch: pytest.MonkeyPatch, pending: tuple[str, ...], solves: int
) -> None:
    # The plan without the files is for listing the pending jobs they move: with none pending
    # (other than the files' own), it was a second solve of nothing.
    cluster = example_cluster(monkeypatch)
    quoted = list(read_objects(ROOT / "examples" / "jobs.yaml"))
    for key in pending:
        namespace, name = key.split("/")
        other = {**quoted[0], "metadata": {"name": name, "namespace": namespace}}
        cluster.put("trainingjobs", other)
    # The files' own first job is in the cluster already: replaced, it moves no other.
    cluster.put("trainingjobs", quoted[0])
    calls = []
    monkeypatch.setattr(solver, "solve", lambda *a: calls.append(a) or solve(*a))
    assert main(["plan", "--cluster", str(ROOT / "examples" / "jobs.yaml"), "--now", NOW]) == 0
    assert len(calls) == solves


def test_plan_cluster_quotes_a_job_without_a_namespace_in_the_context_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As `kubectl apply` puts it: quoted in `default`, it was quoted against another
    # namespace's quotas and Budgets than it would run under.
    example_cluster(monkeypatch)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: ml\n"
        "contexts: [{name: ml, context: {cluster: c, user: u, namespace: team-ml}}]\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # CI may run in a pod
    job = tmp_path / "job.yaml"
    job.write_text(
        "apiVersion: pricewise.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: nons}\n"
        "spec:\n  options: [{accelerator: nvidia-l4, devicesPerWorker: 1, duration: 1h}]\n"
        "  template: {spec: {containers: [{name: main, image: trainer}]}}\n"
    )
    assert main(["plan", "--cluster", str(job), "--now", NOW, "-o", "json"]) == 0
    (quoted,) = json.loads(capsys.readouterr().out)["jobs"]
    assert (quoted["namespace"], quoted["name"]) == ("team-ml", "nons")


def tpu_jobs(tmp_path: Path, created: dict[str, str], running: tuple[str, ...] = ()) -> Path:
    """Four jobs of a whole TPU node each, 2 h, or a whole H100 node: the example cluster's two
    TPU nodes start two, the other two wait two hours for them (at 08:00) rather than pay the
    H100's price now. `created`: creationTimestamps by name; `running`: jobs already placed."""
    docs = []
    for name in ("j0", "j1", "j2", "j3", *running):
        stamp = f", creationTimestamp: '{created[name]}'" if name in created else ""
        status = "status: {phase: Running, pool: tpu-v5e}\n" if name in running else ""
        docs.append(
            "apiVersion: pricewise.dev/v1alpha1\nkind: TrainingJob\n"
            f"metadata: {{name: {name}, namespace: ns{stamp}}}\n"
            "spec:\n  options: [{accelerator: tpu-v5e, devicesPerWorker: 8, duration: 2h},\n"
            "    {accelerator: nvidia-h100, devicesPerWorker: 8, duration: 2h}]\n"
            "  template: {spec: {containers: [{name: t, image: x}]}}\n" + status
        )
    (tmp_path / "jobs.yaml").write_text("---\n".join(docs))
    return tmp_path / "jobs.yaml"


def plan_tpu_jobs(jobs: Path) -> tuple[dict[str, dict[str, Any]], str]:
    result = pricewise("plan", str(jobs), "examples/pricetable.yaml", "examples/cluster/",
                       "--now", "2026-12-01T08:00:00Z", "-o", "json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {j["name"]: j for j in json.loads(result.stdout)["jobs"]}, result.stderr


def test_a_job_planned_for_later_has_its_planned_run_in_json(tmp_path: Path) -> None:
    # The table showed a reserved job's pool, workers, cost and duration; -o json gave nulls.
    jobs, _ = plan_tpu_jobs(tpu_jobs(tmp_path, {}))
    waiting = [j for j in jobs.values() if j["reason"] == "Reserved"]
    assert len(waiting) == 2
    for planned in waiting:
        assert not planned["placed"]
        assert (planned["pool"], planned["accelerator"]) == ("tpu-v5e", "tpu-v5e")
        assert planned["workers"] == 1
        assert (planned["cost"], planned["duration"]) == (19.2, "2h")
        assert planned["plannedStart"] == "2026-12-01T10:00:00Z"
        assert planned["finish"] == "2026-12-01T12:00:00Z"


def test_plan_counts_a_job_s_max_wait_from_its_creation_timestamp(tmp_path: Path) -> None:
    # As the operator does: three jobs submitted 23 h 30 min ago have no two hours left to
    # wait (max wait 24h), so they all start now, one on an H100; the new one waits. Counted
    # from --now, two of the old ones waited instead. A time without a zone is UTC.
    old = "2026-11-30T08:30:00Z"
    jobs, _ = plan_tpu_jobs(tpu_jobs(tmp_path, {"j0": old, "j1": old, "j2": old[:-1]}))
    assert {n: j["reason"] for n, j in jobs.items()} == {
        "j0": "Admitted",
        "j1": "Admitted",
        "j2": "Admitted",
        "j3": "Reserved",
    }
    assert sorted(jobs[n]["pool"] for n in ("j0", "j1", "j2")) == [
        "nvidia-h100",
        "tpu-v5e",
        "tpu-v5e",
    ]


def test_plan_says_that_jobs_already_placed_are_not_counted(tmp_path: Path) -> None:
    # Fed `kubectl get tj -o yaml`, plan left running jobs out without a word, and planned
    # new jobs onto their nodes.
    _, stderr = plan_tpu_jobs(tpu_jobs(tmp_path, {}, running=("r0", "r1")))
    assert (
        "warning: 2 TrainingJob(s) already placed are not planned again (ns/r0, ns/r1): their "
        "nodes count as free unless their Pods are given, and no job waits for the room they "
        "free; `pricewise plan --cluster` counts what runs and when it ends"
    ) in " ".join(stderr.split())


def test_a_deadline_the_api_server_would_refuse_is_refused(tmp_path: Path) -> None:
    # A date alone was taken as midnight and a number as seconds since 1970: the dry run
    # planned jobs that `kubectl apply` then refused (the CRD's date-time format).
    jobs = tmp_path / "jobs.yaml"
    body = (
        "apiVersion: pricewise.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: NAME}\n"
        "spec:\n  deadline: WHEN\n  options: [{accelerator: nvidia-l4, duration: 1h}]\n"
        "  template: {spec: {containers: [{name: t, image: t}]}}\n"
    )
    deadlines = {
        "x": "2026-12-01",
        "y": "1764583200",
        "z": "'20261201'",
        "word": "tomorrow",  # it read "tomorrow has no time zone"
        "local": "2026-12-01T18:00:00",
        "month": "2026-13-45T08:00:00Z",
        "colon": "2026-12-01T18:00:00+0100",
        "space": "'2026-12-01 18:00:00Z'",
        # Refused by the API server too (test_poison); pydantic said "day value is outside
        # expected range" without the month's length.
        "feb": "2026-02-30T18:00:00Z",
        # RFC 3339 allows a leap second; the API server's parser does not.
        "second": "2026-12-31T23:59:60Z",
        # Refused by neither: a leap day; any one character before the fraction (kube-openapi).
        "leap": "2028-02-29T18:00:00Z",
        "comma": "2026-12-01T18:00:00,5Z",
    }
    jobs.write_text(
        "---\n".join(body.replace("NAME", n).replace("WHEN", w) for n, w in deadlines.items())
    )
    result = pricewise("plan", str(jobs), "examples/pricetable.yaml", "--now", NOW)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[1:] == [
        f"  {jobs}: TrainingJob default/x:",
        "    spec.deadline: 2026-12-01 is a date without a time: give both, e.g. "
        "2026-12-01T18:00:00Z",
        f"  {jobs}: TrainingJob default/y:",
        "    spec.deadline: 1764583200 is not a time: give one as RFC 3339, e.g. "
        "2026-12-01T18:00:00Z",
        f"  {jobs}: TrainingJob default/z:",
        "    spec.deadline: 20261201 is not a time: give one as RFC 3339, e.g. "
        "2026-12-01T18:00:00Z",
        f"  {jobs}: TrainingJob default/word:",
        "    spec.deadline: tomorrow is not a time: give one as RFC 3339, e.g. "
        "2026-12-01T18:00:00Z",
        # Read as UTC, a time without a zone would be off by its writer's offset from it.
        f"  {jobs}: TrainingJob default/local:",
        "    spec.deadline: 2026-12-01T18:00:00 has no time zone (or one without a colon): end "
        "it with Z for UTC or an offset such as +01:00, e.g. 2026-12-01T18:00:00Z",
        # Unquoted, YAML's own timestamp stopped the dry run with a traceback.
        f"  {jobs}: TrainingJob default/month:",
        "    spec.deadline: must be an RFC 3339 time, e.g. 2026-12-01T08:00:00Z (got "
        "'2026-13-45T08:00:00Z')",
        f"  {jobs}: TrainingJob default/colon:",
        "    spec.deadline: 2026-12-01T18:00:00+0100 has no time zone (or one without a colon): "
        "end it with Z for UTC or an offset such as +01:00, e.g. 2026-12-01T18:00:00Z",
        f"  {jobs}: TrainingJob default/space:",
        "    spec.deadline: 2026-12-01 18:00:00Z: put a T between the date and the time, e.g. "
        "2026-12-01T18:00:00Z",
        f"  {jobs}: TrainingJob default/feb:",
        "    spec.deadline: 2026-02-30T18:00:00Z: February 2026 has 28 days",
        f"  {jobs}: TrainingJob default/second:",
        "    spec.deadline: 2026-12-31T23:59:60Z: a leap second (:60) is not taken: end the "
        "minute at :59",
    ]


def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    # PyYAML kept the last: a `priority: 20` added above the file's own `priority: 0` was lost
    # without a word, where kubectl refuses the file.
    twice = tmp_path / "job.yaml"
    twice.write_text(
        "apiVersion: pricewise.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: x}\n"
        "spec:\n  priority: 20\n  options: [{accelerator: nvidia-l4, duration: 1h}]\n"
        "  priority: 0\n"
    )
    with pytest.raises(ManifestError) as err:
        list(read_objects(twice))
    text = str(err.value)
    assert 'key "priority" is given twice: keep one' in text
    assert "line 5, column 3" in text and "line 7, column 3" in text, text


def test_pod_fields_are_walked_however_the_kubernetes_client_spells_its_types() -> None:
    # Clients before 32 write `list[V1Container]`: the containers went unchecked.
    assert [podfields._OBJECT.match(t) is not None for t in (
        "V1PodSpec", "List[V1Container]", "list[V1Container]", "List[CoreV1ResourceClaim]",
        "Dict[str, str]", "str",
    )] == [True, True, True, True, False, False]  # fmt: skip


def test_a_folder_s_hidden_ones_are_not_read(tmp_path: Path) -> None:
    # A project's .github/workflows/ci.yml, no Kubernetes object, failed the whole plan.
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "examples" / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / "examples" / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    assert main(["plan", str(tmp_path / "examples"), "--now", NOW]) == 0


def test_price_tables_in_two_currencies_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    euros = (ROOT / "examples/pricetable.yaml").read_text()
    euros = euros.replace("currency: USD", "currency: EUR").replace("name: gcp-", "name: eur-")
    (tmp_path / "eur.yaml").write_text(euros)
    assert main(["plan", "examples/", str(tmp_path / "eur.yaml"), "--now", NOW]) == 2
    err = capsys.readouterr().err
    assert "PriceTables in several currencies:" in err and "(EUR)" in err and "(USD)" in err


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("kind: Node\nmetadata: {name: n1}\nstatus: {allocatable: {cpu: '8', memory: lots}}\n",
         "Node n1: status.allocatable.memory: 'lots' is not a quantity"),
        ("kind: Pod\nmetadata: {name: p1, namespace: a}\nspec: {containers: [{name: c}, "
         "{name: d, resources: {limits: {memory: 12XB}}}]}\n",
         "Pod a/p1: spec.containers[1].resources.limits.memory: '12XB' is not a quantity"),
    ],
)  # fmt: skip
def test_a_node_or_pod_quantity_pricewise_cannot_read_names_its_field(
    tmp_path: Path, text: str, says: str
) -> None:
    # It named the object alone: "Node n1: 'lots' is not a quantity".
    (tmp_path / "bad.yaml").write_text(text)
    result = pricewise("plan", "examples/", str(tmp_path / "bad.yaml"))
    assert result.returncode == 2 and says in result.stderr, result.stderr


def test_text_libyaml_cannot_encode_is_refused_as_yaml_not_with_a_traceback() -> None:
    # stdin read with surrogateescape (a C locale) kept an undecodable byte as a surrogate:
    # libyaml raised UnicodeEncodeError, which no error message caught.
    with pytest.raises(yaml.YAMLError, match="unacceptable character"):
        load_yaml("kind: Node\nmetadata: {name: \udcff}\n")


def test_a_folder_s_yaml_that_holds_no_object_is_skipped_with_a_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A chart's Chart.yaml or values beside the manifests failed the whole plan.
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "examples" / "Chart.yaml").write_text("apiVersion: v2\nname: team\n")
    assert main(["plan", str(tmp_path / "examples"), "--now", NOW]) == 0
    assert f"skipped {tmp_path}/examples/Chart.yaml: it holds no Kubernetes object" in (
        capsys.readouterr().err
    )
    # Named, it is still an error: it was meant.
    chart = str(tmp_path / "examples" / "Chart.yaml")
    assert main(["plan", str(tmp_path / "examples"), chart, "--now", NOW]) == 0
    assert main(["plan", "examples/", chart, "--now", NOW]) == 2


def test_a_chart_s_templates_are_skipped_in_a_folder_and_named_say_to_render_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `plan` on a folder with a chart failed on each template as "not valid YAML: while parsing
    # a flow node", ten times, and never said what to do.
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copytree(ROOT / "charts/pricewise/templates", tmp_path / "examples/chart/templates")
    assert main(["plan", str(tmp_path / "examples"), "--now", NOW]) == 0
    err = capsys.readouterr().err
    folder = tmp_path / "examples/chart/templates"
    templates = len(list(folder.glob("*.yaml")))
    assert f"skipped {templates} Helm template(s) in {folder}: YAML only once rendered, " in err
    assert err.count("Helm template") == 1 and "helm template RELEASE CHART | pricewise" in err
    assert main(["plan", "examples/", str(folder / "rbac.yaml"), "--now", NOW]) == 2
    assert "rbac.yaml: a Helm template, YAML only once rendered: render its chart first, " in (
        capsys.readouterr().err
    )


def test_a_folder_s_broken_manifest_with_braces_is_an_error_not_a_template_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # YAML that reads, with `{{` in an argument and a document without a kind, was skipped
    # as a Helm template: its job left out of the plan without an error.
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "run.yaml").write_text(
        "kind: TrainingJob\nmetadata: {name: a}\nspec:\n  options: [{accelerator: nvidia-l4, "
        "devicesPerWorker: 1, duration: 1h}]\n  template: {spec: {containers: [{name: m, "
        'image: t, args: ["--run={{ .RunID }}"]}]}}\n---\nmetadata: {name: stray}\n'
    )
    assert main(["plan", "examples/", str(jobs), "--now", NOW]) == 2
    err = capsys.readouterr().err
    assert "run.yaml" in err and "Helm template" not in err


def test_a_plan_cut_by_its_time_limit_is_the_same_every_run(tmp_path: Path) -> None:
    # Its limit was in seconds: past a few hundred jobs a cut solve gave another plan at each
    # run (673.28, 673.28, then 675.44 USD for the same 600 jobs), so a dry run could not be
    # checked against another, nor a quote repeated.
    examples = [d for d in yaml.safe_load_all((ROOT / "examples/jobs.yaml").read_text()) if d]
    draw, jobs = random.Random(3), []
    for i in range(600):
        copy = json.loads(json.dumps(draw.choice(examples)))
        copy["metadata"] = {"name": f"j{i}", "namespace": "team-nlp"}
        spec = copy["spec"]
        spec.pop("deadline", None)
        # Jobs that differ from each other: copies alike are solved as one class, at once.
        if "work" in spec:
            spec["work"] *= draw.uniform(0.2, 1.5)
        spec["priority"] = draw.choice([0, 0, 0, 10])
        jobs.append(copy)
    (tmp_path / "jobs.yaml").write_text(yaml.safe_dump_all(jobs))
    args = ("plan", str(tmp_path), "examples/pricetable.yaml", "examples/cluster/nodes.yaml",
            "--now", NOW, "-o", "json", "--time-limit", "1.5")  # fmt: skip
    runs = [pricewise(*args) for _ in range(2)]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr
    first, second = (json.loads(run.stdout) for run in runs)
    assert first["solver"]["status"] != "optimal"  # cut by the limit, or this proves nothing
    assert first["jobs"] == second["jobs"] and first["totalCost"] == second["totalCost"]
