#!/usr/bin/python3
"""Generates policy.schema.json from the same host-rule and size regexes as the Sandboxfile's.

usage: /usr/bin/python3 sandboxfile-spec/gen_policy_schema.py > sandboxfile-spec/policy.schema.json
"""
import contextlib
import io
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
with contextlib.redirect_stdout(io.StringIO()):  # gen_schema prints the Sandboxfile schema
    import gen_schema as sf

S = sf.S
B = lambda d: {"type": "boolean", "description": d}
POLICY_PATH = r'^(?:/.*|~|~/.*|@sbx-(?:state|data|config|cache)(?:/.*)?)$'
path_list = lambda d: {"type": "array", "maxItems": 4096, "items": S(pattern=POLICY_PATH), "description": d}
patterns = lambda d: {"type": "array", "maxItems": 4096, "items": S(minLength=1), "description": d}
rules = lambda d: {"type": "array", "maxItems": 4096, "items": sf.rule, "description": d}
host_patterns = {"type": "array", "maxItems": 4096, "items": S(pattern=rf'^{sf.HOST_NOPORT}$'),
                 "description": "Host patterns (exact, *.wildcard, re:, IP/CIDR; no ports) the secrets may be sent to."}
size = lambda d: S(pattern=sf.SIZE, description=d)
table = lambda d, props, **kw: {"type": "object", "additionalProperties": False, "description": d, "properties": props, **kw}

grant = table("A grant: these secret names may be bound to these hosts (and, with inject, as env).", {
    "names": patterns("Secret name patterns (* any characters but /, ** any, ? one)."),
    "hosts": host_patterns,
    "inject": {"type": "array", "maxItems": 2, "items": {"enum": ["header", "env"]},
               "description": "Which injections the grant allows; default [\"header\"]."},
}, required=["names"],
    **{"if": {"not": {"required": ["inject"]}}, "then": {"required": ["hosts"]},
       "else": {"if": {"properties": {"inject": {"contains": {"const": "header"}}}}, "then": {"required": ["hosts"]}}})

schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://sbx.dev/schemas/policy-1.schema.json",
    "title": "sbx policy (version 1)",
    "description": "What any sandbox on a machine may do, whatever its Sandboxfile asks. See sandboxfile-spec/POLICY.md.",
    "type": "object", "additionalProperties": False, "required": ["version"],
    "properties": {
        "version": {"const": 1, "description": "Format version of this policy. This schema is version 1."},
        "name": S(pattern=r'^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$', description="Policy name in messages; default: the file name without .toml."),
        "description": S(description="What the policy is for (sbx policy ls)."),
        "enforcement": {"enum": ["enforce", "warn"], "description": "enforce (default): a violation stops sbx up; warn: it is printed."},
        "images": table("Which root file systems.", {
            "allow": patterns("The normalised image reference must match one of these patterns."),
            "require_digest": B("Registry references and archives must be pinned by digest; rootfs directories are refused."),
        }),
        "mounts": table("Which host directories.", {
            "deny": path_list("Never mounted: the path, inside it, or any directory holding it."),
            "deny_itself": path_list("Never mounted as a whole (nor any directory holding it); inside it is fine."),
            "read_only": path_list("A mount of, inside or holding the path must be read-only."),
            "max": {"type": "integer", "minimum": 0, "maximum": 64, "description": "The most [[mount]] sections."},
            "allow_rw": B("false: every mount must be read-only."),
            "protect": {"type": "array", "maxItems": 64, "description": "Paths, relative to each read-write mount's source, that the Sandboxfile must keep read-only in the guest (its protect list or the defaults).",
                        "items": S(pattern=r'^(?!/)(?!.*(?:^|/)\.{1,2}(?:/|$))(?!.*//).{1,1024}$')},
        }),
        "egress": table("Which hosts.", {
            "deny": rules("Hosts no sandbox may reach (Sandboxfile rule syntax)."),
            "ceiling": rules("The most any sandbox may reach: every allow rule must lie inside one of these."),
            "allow_ip_literals": B("false: no rule naming a single IP address."),
            "allow_cidrs": B("false: no address range rule."),
            "allow_private_ranges": B("false: no address rule reaching loopback, private, link-local, CGNAT or other special ranges."),
            "allow_learn": B("false: mode = \"learn\" is refused."),
        }),
        "secrets": table("Which secrets go where.", {
            "deny": patterns("Secret names no [[secret]] may bind."),
            "allow": {"type": "array", "maxItems": 256, "items": grant,
                      "description": "When present, every binding needs a grant."},
            "allow_env": B("false: inject = \"env\" is refused."),
        }),
        "resources": table("How large a VM.", {
            "max_cpus": {"type": "integer", "minimum": 1, "maximum": 256, "description": "The most cpus."},
            "max_memory": size("The most memory, e.g. \"8GiB\"."),
            "max_disk": size("The most disk, e.g. \"20GiB\"."),
        }),
        "agents": table("Which agents.", {
            "allow": {"type": "array", "maxItems": 4096, "items": {"enum": sf.PRESETS + ["custom"]},
                      "description": "Agent presets a sandbox may run; custom is a command without a preset."},
        }),
        "docker": table("Docker inside the sandbox.", {"allow": B("Whether a sandbox may run Docker inside.")}),
    },
}
print(json.dumps(schema, indent=2, ensure_ascii=False))
