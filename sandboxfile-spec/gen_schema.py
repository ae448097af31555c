#!/usr/bin/python3
"""Generates sandboxfile.schema.json (the regexes are easier to keep right here than in JSON).

usage: /usr/bin/python3 sandboxfile-spec/gen_schema.py > sandboxfile-spec/sandboxfile.schema.json
"""
import json, os
# One preset per file in src/config/presets (embedded into sbx); the enum follows the files.
PRESETS = sorted(f[:-5] for f in os.listdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "config", "presets")) if f.endswith(".toml"))
def ci(word):  # case-insensitive literal for regex engines without flags
    return ''.join(f'[{c.lower()}{c.upper()}]' if c.isalpha() else ('\\' + c if c in '.-' else c) for c in word)
LABEL = r'[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?'
HOSTNAME = rf'{LABEL}(?:\.{LABEL})*\.?'
PORT = r'(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])'
PORTS = rf'{PORT}(?:,{PORT})*'
IPV4 = r'[0-9]{1,3}(?:\.[0-9]{1,3}){3}'
IPV6 = r'[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*'
HOST_NOPORT = rf'(?:re:.+|(?:\*\.)?{HOSTNAME}|{IPV4}(?:/[0-9]{{1,2}})?|\[{IPV6}\]|{IPV6}(?:/[0-9]{{1,3}})?)'
RULE_STRING = rf'^(?:re:.+|(?:(?:\*\.)?{HOSTNAME}|{IPV4}(?:/[0-9]{{1,2}})?|\[{IPV6}\])(?::{PORTS})?|{IPV6}(?:/[0-9]{{1,3}})?)$'
SIZE = r'^[0-9]+ ?(?:[bB]|[kKmMgGtT](?:[iI]?[bB])?)$'
ENV = r'^[A-Za-z_][A-Za-z0-9_]*$'
USER_PART = r'(?:[a-z_][a-z0-9_.-]{0,31}|[0-9]{1,10})'  # guest/protocol/user.h
PROXY_VARIABLES = ["HTTP_PROXY","HTTPS_PROXY","NO_PROXY","ALL_PROXY"]  # config/names.cpp: reserved in any case
FORBIDDEN_HEADERS = ["host","content-length","transfer-encoding","connection","upgrade","te","trailer","keep-alive","proxy-authorization","proxy-connection"]
env_name = {"type":"string","maxLength":128,"pattern":ENV,
            "not":{"anyOf":[{"pattern":"^(?:" + "|".join(ci(v) for v in PROXY_VARIABLES) + ")$"},{"pattern":"^" + ci("SBX_")}]}}
guest_path = {"type":"string","pattern":"^/","maxLength":4096}
# src/config/defaults.h; tests/config/defaults_test.cpp checks both agree.
DEFAULTS = {"cpus": 1, "memory": "512MiB", "disk": "2GiB", "workdir": "/workspace", "user": "agent"}
S = lambda **kw: dict(type="string", maxLength=4096, **kw)
rule_obj = {
  "type":"object","additionalProperties":False,"required":["host"],
  "description":"Table form of a rule: a host pattern and explicit ports.",
  "properties":{
    "host":S(pattern=rf'^{HOST_NOPORT}$', description="Host pattern: exact host, \"*.example.com\" (subdomains only), \"re:<RE2 pattern>\" matched against the whole lower-case host, or an IP/CIDR. No port suffix."),
    "ports":{"type":"array","minItems":1,"maxItems":1024,"items":{"type":"integer","minimum":1,"maximum":65535},
             "description":"Ports the rule applies to (default [80, 443])."}}}
rule = {"description":"An egress rule: \"HOST[:PORT[,PORT...]]\" or { host, ports }.",
        "oneOf":[S(pattern=RULE_STRING, description="String form: exact host, *.wildcard, re:PATTERN (no port suffix), IP or CIDR, optionally :port[,port...]; ports default to 80 and 443."), rule_obj]}
rules = {"type":"array","maxItems":4096,"items":rule}
schema = {
 "$schema":"https://json-schema.org/draft/2020-12/schema",
 "$id":"https://sbx.dev/schemas/sandboxfile-1.schema.json",
 "title":"Sandboxfile (version 1)",
 "description":"Declares what sbx runs in a microVM for a project: agent, image, resources, mounts, egress rules and secrets. See sandboxfile-spec/SPEC.md.",
 "type":"object","additionalProperties":False,"required":["version"],
 "properties":{
  "version":{"const":1,"description":"Format version of this file. This schema is version 1."},
  "name":S(pattern=r'^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$', description="Sandbox name: 1-63 of a-z, 0-9, '-', not starting or ending with '-'. Default: the Sandboxfile directory's name, sanitised."),
  "agent":{"type":"object","additionalProperties":False,"description":"What runs inside the VM.",
   "properties":{
    "preset":{"enum":PRESETS,"description":"A known agent (a preset file shipped with sbx); fills the command, env, image, resources, egress rules and secret binding the file does not write (SPEC.md, Presets). Default: shell, or custom when only command is given."},
    "version":S(pattern=r'^[A-Za-z0-9.^~<>=*+][A-Za-z0-9.^~<>=*+-]{0,63}$', description="npm version, dist-tag or range of the preset's package, installed in the dev image's agent layer. Default: the preset's."),
    "headless":{"type":"array","maxItems":256,"items":S(),"description":"The agent's one-prompt form. Default: the preset's."},
    "command":{"type":"array","minItems":1,"maxItems":256,"prefixItems":[S(minLength=1)],"items":S(),"description":"argv of the agent process (program first); not run through a shell. Default: the preset's command."},
    "args":{"type":"array","maxItems":256,"items":S(),"description":"Arguments appended to the command."},
    "env":{"type":"object","maxProperties":256,"propertyNames":env_name,"additionalProperties":S(),"description":"Extra environment variables inside the VM. Proxy variables and SBX_* are reserved."},
    "workdir":dict(guest_path, default=DEFAULTS["workdir"], description=f"Absolute working directory inside the VM. Default {DEFAULTS['workdir']}."),
    "user":S(pattern=rf'^{USER_PART}(?::{USER_PART})?$', default=DEFAULTS["user"], description=f"User the agent runs as inside the VM: a name, a uid, name:group or uid:gid. Default \"{DEFAULTS['user']}\".")}},
  "image":{"type":"object","additionalProperties":False,"description":"The root file system of the VM.",
   "properties":{
    "ref":S(minLength=1, description="\"builtin\" (default), \"dev\" (sbx's Debian dev image; the default with an agent preset), a path (/, ./, ../, ~) to a rootfs directory or a .tar/.tar.gz/.tgz image archive (relative to the Sandboxfile), \"saved:NAME\" (an image sbx save made; Docker Hub's image \"saved\" is written docker.io/library/saved:TAG), or a registry reference [host/]name[:tag][@sha256:...]."),
    "digest":S(pattern=r'^sha256:[0-9a-f]{64}$', description="Digest pin \"sha256:<64 hex>\": SHA-256 of an archive, or a registry manifest digest.")},
   "if":{"required":["digest"]},
   "then":{"required":["ref"],"properties":{"ref":{"not":{"anyOf":[
     {"pattern":"^builtin"},
     {"pattern":"^saved:"},
     {"pattern":r"^(?:/|\./|\.\./|~|\.$|\.\.$)(?!.*\.(?:tar|tar\.gz|tgz)$)"}]}}}}},
  "resources":{"type":"object","additionalProperties":False,"description":"Size of the VM.",
   "properties":{
    "cpus":{"type":"integer","minimum":1,"maximum":256,"default":DEFAULTS["cpus"],"description":f"Virtual CPUs. Default {DEFAULTS['cpus']}."},
    "memory":S(pattern=SIZE, default=DEFAULTS["memory"], description=f"Guest memory, e.g. \"512MiB\" (binary: KiB/MiB/GiB/TiB; decimal: K/M/G/T, KB/MB/GB/TB). 64MiB-1TiB. Default \"{DEFAULTS['memory']}\"."),
    "disk":S(pattern=SIZE, default=DEFAULTS["disk"], description=f"Writable root disk size, e.g. \"2GiB\". 64MiB-16TiB. Default \"{DEFAULTS['disk']}\".")}},
  "mount":{"type":"array","maxItems":64,"description":"Host directories visible in the VM; nothing else is.",
   "items":{"type":"object","additionalProperties":False,"required":["source","target"],
    "properties":{
     "source":S(minLength=1, description="Host directory; relative to the Sandboxfile's directory, '~' is the home directory."),
     "target":dict(guest_path, **{"not":{"pattern":r"^/+(?:(?:proc|sys|dev)(?:/.*)?|(?:bin|boot|etc|lib|lib32|lib64|libx32|run|sbin|usr|var)/*)?$"}}, description="Absolute path inside the VM; not /, not /proc, /sys or /dev or below them, not exactly a system directory (/bin, /boot, /etc, /lib*, /run, /sbin, /usr, /var)."),
     "mode":{"enum":["ro","rw"],"description":"ro (read-only, default) or rw."},
     "cache":{"enum":["auto","always"],"description":"auto (default: host changes seen within 1 s) or always (faster; only where nothing on the host changes the directory while the sandbox runs)."},
     "local":{"type":"array","maxItems":16,"uniqueItems":True,"description":"Directories under target kept on the sandbox disk (hidden from the host, kept across restarts, removed with the sandbox), e.g. [\"node_modules\", \".venv\"]. Relative and normalised.",
      "items":dict(type="string", minLength=1, maxLength=1024, pattern=r"^(?![^\x00-\x1f\x7f]*[\x00-\x1f\x7f])(?!.*(?:^|/)\.{1,2}(?:/|$))[^/\x00-\x1f\x7f]{1,255}(?:/[^/\x00-\x1f\x7f]{1,255})*$")}}}},
  "port":{"type":"array","maxItems":64,"description":"TCP ports on the host forwarded to ports inside the VM (dev servers); each host port once.",
   "items":{"type":"object","additionalProperties":False,"required":["guest"],
    "properties":{
     "guest":{"type":"integer","minimum":1,"maximum":65535,"description":"The port a server listens on inside the VM, on its 127.0.0.1."},
     "host":{"oneOf":[{"type":"integer","minimum":1,"maximum":65535},
                      {"type":"string","maxLength":64,"pattern":rf"^(?:{IPV4}|\[{IPV6}\]):{PORT}$"}],
             "description":"The host port (on 127.0.0.1), or \"ADDRESS:PORT\" with an IP literal (\"0.0.0.0:8080\" is reachable from other machines). Default: the guest port on 127.0.0.1."}}}},
  "egress":{"type":"object","additionalProperties":False,"description":"Network rules; default deny.",
   "properties":{
    "mode":{"enum":["enforce","learn"],"description":"enforce (default): only allowed hosts; learn: allow and log everything."},
    "allow":dict(rules, description="Rules that let a connection through."),
    "deny":dict(rules, description="Rules that refuse a connection even if allowed (deny beats allow)."),
    "trust_host_ca":{"type":"boolean","description":"The guest also trusts the CA certificates this host's administrator added (default false)."}}},
  "docker":{"type":"object","additionalProperties":False,"description":"A private Docker daemon inside the VM (dockerd started by the guest agent; images on the sandbox disk; pulls and containers through the egress proxy).",
   "properties":{"enabled":{"type":"boolean","description":"Run dockerd in the guest (default false). Without [image] the dev image is used; without a written memory or disk, 1GiB and 8GiB."},
    "insecure_registries":{"type":"array","maxItems":16,"description":"Registries (host or host:port) dockerd may reach over plain HTTP; still through the egress proxy and its rules. Needs enabled = true.",
     "items":S(pattern=r'^[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:[0-9]{1,5})?$')}}},
  "protect":{"type":"array","maxItems":64,"uniqueItems":False,"description":"More paths, relative to each read-write mount's source, kept read-only in the guest (besides Sandboxfile, .sbx, .git/hooks, .git/config, .envrc, .vscode/tasks.json).",
   "items":S(pattern=r'^(?!/)(?!.*(?:^|/)\.{1,2}(?:/|$))(?!.*//)[^\x00]{1,1024}$')},
  "secret":{"type":"array","maxItems":64,"description":"Secrets from the host store and where they are injected.",
   "items":{"type":"object","additionalProperties":False,"required":["name"],
    "properties":{
     "name":{"type":"string","pattern":r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$',"description":"Name of the secret in the host store (sbx secret set NAME)."},
     "inject":{"enum":["header","env"],"description":"header (default): the proxy adds it to requests for hosts; env: placed in the agent's environment (weaker)."},
     "hosts":{"type":"array","minItems":1,"maxItems":16,"items":S(pattern=rf'^{HOSTNAME}$'),"description":"header: exact hosts the header is added for; each must be allowed by [egress]."},
     "header":S(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$", **{"not":{"pattern":"^(?:" + "|".join(ci(h) for h in FORBIDDEN_HEADERS) + ")$"}}, description="header: HTTP header name, e.g. Authorization."),
     "template":{"type":"string","maxLength":1024,"pattern":r'^(?!.*\{\}.*\{\})[^\r\n]*\{\}[^\r\n]*$',"description":"header: value with {} replaced by the secret, e.g. \"Bearer {}\". Default \"{}\"."},
     "env":dict(env_name, description="env: variable name inside the VM.")},
    "if":{"properties":{"inject":{"const":"env"}},"required":["inject"]},
    "then":{"required":["env"],"not":{"anyOf":[{"required":["hosts"]},{"required":["header"]},{"required":["template"]}]}},
    "else":{"required":["hosts","header"],"not":{"required":["env"]}}}}}}
print(json.dumps(schema, indent=2, ensure_ascii=False))
