"""Benchmark workloads: a Konveyor `output.yaml` plus the source tree its incidents point at.

- `synthetic`: Java EE services generated from a seed: javax imports, `@Stateless` beans,
  `@PersistenceContext` fields, `getCallerIdentity()` calls and JNDI lookups (which the scripted
  model honestly cannot fix), reported under five real rule ids with their real-style messages.
  `small=True` makes many small classes (a few methods each) instead of services of real size.
- `real`: a real analyzer output from `tests/data/konveyor/` (the same files as `../shared/data`;
  default: the coolstore run of kantra-cli-tests); the analysed sources are not published, so every
  file is rebuilt from the incidents' `codeSnip` lines (at their line numbers) with filler lines of
  ordinary code in between, up to a little past its last incident: files of their real size.

Both write `output.yaml` and `app/` under a directory and return a `Workload`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

DATA_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "konveyor"  # checked in
DEFAULT_REAL = "kantra-cli-tests-coolstore-relative-uris.yaml"
SOURCE_ROOT = "/opt/input/source"

_PACKAGES = [
    ("javax.persistence", ["Entity", "Id", "Column", "Table", "EntityManager", "GeneratedValue"]),
    ("javax.ws.rs", ["GET", "POST", "Path", "Produces", "Consumes", "PathParam"]),
    ("javax.inject", ["Inject", "Named"]),
    ("javax.enterprise.context", ["RequestScoped", "Dependent"]),
    ("javax.validation.constraints", ["NotNull", "Size", "Min"]),
    ("javax.transaction", ["Transactional"]),
    ("javax.json", ["JsonObject", "Json"]),
]
_RULES: dict[str, dict[str, Any]] = {
    "javax-to-jakarta-import-00001": {
        "ruleset": "eap8/eap7",
        "description": "The package 'javax' has been replaced by 'jakarta'.",
        "effort": 1,
    },
    "ee-to-quarkus-00000": {
        "ruleset": "quarkus/springboot",
        "description": "@Stateless annotation must be replaced",
        "effort": 1,
        "message": (
            "Stateless EJBs can be converted to a CDI bean by replacing the `@Stateless` annotation "
            "with a scope eg `@ApplicationScoped`"
        ),
    },
    "persistence-to-quarkus-00010": {
        "ruleset": "quarkus/springboot",
        "description": "@PersistenceContext must be replaced with @Inject",
        "effort": 1,
        "message": (
            "In Quarkus, the `@PersistenceContext` annotation is not needed: inject the "
            "`EntityManager` with `@Inject` instead. A named persistence unit needs a "
            "`@PersistenceUnit` qualifier and the matching `quarkus.hibernate-orm` configuration."
        ),
    },
    "eap8-ejb-00001": {
        "ruleset": "eap8/eap7",
        "description": "Methods relying on `java.security.Identity` removed",
        "effort": 1,
        "message": (
            "Methods relying on `java.security.Identity` have been removed from the Jakarta "
            "Enterprise Beans 4.0 specification and api.\n Use `Principal.getCallerPrincipal()` instead."
        ),
    },
    "jndi-to-quarkus-00001": {
        "ruleset": "quarkus/springboot",
        "description": "JNDI lookups must be replaced by CDI injection",
        "effort": 3,
        "message": (
            "JNDI lookups are not supported in Quarkus. Replace the `InitialContext.lookup(...)` call "
            "by injecting the resource with CDI (`@Inject`), and configure the datasource in "
            "`application.properties`."
        ),
    },
}


@dataclass(frozen=True)
class Workload:
    name: str
    analysis: Path  # output.yaml
    app: Path  # the source tree (copied per strategy)
    files: int
    incidents: int
    rules: int
    description: str


def _incident(path: str, line: int, message: str, **variables: str) -> dict[str, Any]:
    return {
        "uri": f"file://{SOURCE_ROOT}/{path}",
        "message": message,
        "lineNumber": line,
        "variables": dict(variables),
    }


def _java_file(
    rng: random.Random, index: int, small: bool = False
) -> tuple[str, str, list[tuple[str, int, str]]]:
    """(relative path, text, [(rule id, line, message)]) of one generated service class."""
    package = f"com.acme.shop.module{index % 12}"
    name = f"Service{index:04d}"
    lines = [f"package {package};", ""]
    incidents: list[tuple[str, int, str]] = []
    chosen = rng.sample(_PACKAGES, rng.randint(2, 5))
    stateless = rng.random() < 0.55
    persistence = stateless and rng.random() < 0.6
    caller = rng.random() < 0.2
    jndi = rng.random() < 0.1
    imports: list[tuple[str, str]] = [(pkg, rng.choice(names)) for pkg, names in chosen]
    for _ in range(rng.randint(0, 3)):
        pkg, names = rng.choice(chosen)
        imports.append((pkg, rng.choice(names)))
    if stateless:
        imports.append(("javax.ejb", "Stateless"))
    if persistence:
        imports.append(("javax.persistence", "PersistenceContext"))
    for pkg, cls in sorted(set(imports)):
        lines.append(f"import {pkg}.{cls};")
        message = (
            f"Replace the `{pkg.split('.')[0]}.{pkg.split('.')[1]}` import statement with "
            f"`jakarta.{pkg.split('.')[1]}`"
        )
        incidents.append(("javax-to-jakarta-import-00001", len(lines), message))
    lines += ["import java.util.List;", "import java.util.logging.Logger;", ""]
    lines.append(f"/** Business operations of module {index % 12}, generated for the benchmark. */")
    if stateless:
        lines.append("@Stateless")
        incidents.append(("ee-to-quarkus-00000", len(lines), _RULES["ee-to-quarkus-00000"]["message"]))
    lines.append(f"public class {name} {{")
    lines.append(f"    private static final Logger LOG = Logger.getLogger({name}.class.getName());")
    lines.append("")
    if persistence:
        lines.append("    @PersistenceContext")
        incidents.append(
            ("persistence-to-quarkus-00010", len(lines), _RULES["persistence-to-quarkus-00010"]["message"])
        )
        lines.append("    private EntityManager em;")
        lines.append("")
    for method in range(rng.randint(2, 3) if small else rng.randint(3, 9)):
        lines.append(f"    public List<String> operation{method}(String key, int limit) {{")
        lines.append(f'        LOG.fine("operation{method} " + key);')
        for step in range(rng.randint(1, 4) if small else rng.randint(3, 14)):
            lines.append(f"        int value{step} = key.length() * {step + 1} + limit;")
            if step % 4 == 3:
                lines.append(f"        if (value{step} > limit) {{ limit = value{step} % 97; }}")
        if caller and method == 1:
            lines.append("        String who = context.getCallerIdentity().getName();")
            incidents.append(("eap8-ejb-00001", len(lines), _RULES["eap8-ejb-00001"]["message"]))
        if jndi and method == 2:
            lines.append('        Object ds = new InitialContext().lookup("java:jboss/datasources/ShopDS");')
            incidents.append(
                ("jndi-to-quarkus-00001", len(lines), _RULES["jndi-to-quarkus-00001"]["message"])
            )
        lines.append(f"        return List.of(key, String.valueOf(limit + {method}));")
        lines.append("    }")
        lines.append("")
    lines.append("}")
    path = f"src/main/java/{package.replace('.', '/')}/{name}.java"
    return path, "\n".join(lines) + "\n", incidents


def _write_output(
    target: Path, violations: dict[str, dict[str, Any]], incidents: dict[str, list[dict[str, Any]]]
) -> Path:
    rulesets: dict[str, dict[str, Any]] = {}
    for rule_id, found in sorted(incidents.items()):
        meta = violations[rule_id]
        ruleset = rulesets.setdefault(meta["ruleset"], {"name": meta["ruleset"], "violations": {}})
        ruleset["violations"][rule_id] = {
            "description": meta["description"],
            "category": "mandatory",
            "labels": ["konveyor.io/source=java-ee", "konveyor.io/target=quarkus3+"],
            "effort": meta["effort"],
            "incidents": found,
        }
    path = target / "output.yaml"
    path.write_text(yaml.safe_dump(list(rulesets.values()), sort_keys=False), encoding="utf-8")
    return path


def synthetic(
    target: Path, *, files: int = 220, seed: int = 7, small: bool = False, name: str = "synthetic"
) -> Workload:
    """`files` generated Java files (about 5 incidents each) under five rules."""
    rng = random.Random(seed)
    app = target / "app"
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for index in range(files):
        path, text, found = _java_file(rng, index, small)
        full = app / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text, encoding="utf-8")
        for rule_id, line, message in found:
            by_rule.setdefault(rule_id, []).append(_incident(path, line, message))
    analysis = _write_output(target, _RULES, by_rule)
    count = sum(len(v) for v in by_rule.values())
    size = "small generated Java EE classes" if small else "generated Java EE services"
    return Workload(
        name,
        analysis,
        app,
        files,
        count,
        len(by_rule),
        f"{count} incidents in {files} {size}, {len(by_rule)} rules (seed {seed})",
    )


_SNIP_LINE = re.compile(r"^\s*(\d+)  (.*)$")


_JAVA_FILLER = (
    "        int total{n} = order.getQuantity() * item.getPrice() + shipping.costFor(order);",
    "        if (customer{n} != null && customer{n}.isActive()) {{ audit.record(customer{n}.getId()); }}",
    '        LOG.debug("processing step {n} for order " + order.getId());',
    "        List<LineItem> items{n} = repository.findItems(order.getId(), PageRequest.of(0, 50));",
    '        String label{n} = String.format("%s-%05d", prefix, sequence.next());',
    "    }}",
    "",
    "    private BigDecimal subtotal{n}(Order order) {{",
    "        return order.getItems().stream().map(LineItem::getTotal).reduce(BigDecimal.ZERO, Sum::of);",
)
_XML_FILLER = (
    '    <property name="setting.{n}" value="value-{n}"/>',
    "    <!-- configuration block {n} -->",
    '    <entry key="option{n}">enabled</entry>',
)
_PROPERTIES_FILLER = ("app.setting.{n}=value-{n}", "# section {n}", "service.timeout.{n}=30s")


def _filler(path: str, number: int) -> str:
    """An ordinary line of the file's kind, so that rebuilt files have a realistic token density."""
    if path.endswith((".xml", ".html", ".xhtml")):
        kinds = _XML_FILLER
    elif path.endswith((".properties", ".yaml", ".yml")):
        kinds = _PROPERTIES_FILLER
    else:
        kinds = _JAVA_FILLER
    return kinds[number % len(kinds)].format(n=number)


def real(target: Path, *, source: str = DEFAULT_REAL, name: str = "real") -> Workload:
    """A real analyzer output; the files its incidents point at rebuilt from their code snippets."""
    raw = yaml.load((DATA_DIR / source).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    known: dict[str, dict[int, str]] = {}
    incidents = 0
    rules: set[str] = set()
    for ruleset in raw:
        for rule_id, violation in (ruleset.get("violations") or {}).items():
            if violation.get("effort") is None:
                continue
            for incident in violation.get("incidents") or []:
                uri = str(incident.get("uri") or "")
                if not uri or ".m2/" in uri or "java-bin" in uri or incident.get("isDependencyIncident"):
                    continue
                path = re.sub(r"^(file://)?(/opt/input/source/|/source/|/shared/source/)?", "", uri)
                lines = known.setdefault(path, {})
                for snip in str(incident.get("codeSnip") or "").splitlines():
                    match = _SNIP_LINE.match(snip)
                    if match:
                        lines[int(match.group(1))] = match.group(2)
                incidents += 1
                rules.add(rule_id)
    app = target / "app"
    for path, lines in known.items():
        last = max(lines, default=0) + 12  # the file goes on a little after its last incident
        text = "\n".join(lines.get(n, _filler(path, n)) for n in range(1, last + 1)) + "\n"
        full = app / PurePosixPath(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text, encoding="utf-8")
    analysis = target / "output.yaml"
    analysis.write_text((DATA_DIR / source).read_text(encoding="utf-8"), encoding="utf-8")
    return Workload(
        name,
        analysis,
        app,
        len(known),
        incidents,
        len(rules),
        f"{source}: {incidents} source incidents in {len(known)} files, {len(rules)} rules "
        "(files rebuilt at their real length from the incidents' code snippets)",
    )
