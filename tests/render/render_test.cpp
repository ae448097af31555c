#include <catch2/catch.hpp>

#include "config/canonical.h"
#include "config/loader.h"
#include "render/egress_config.h"
#include "render/identity.h"
#include "render/kubernetes.h"
#include "render/pod.h"
#include "render/yaml.h"

using nlohmann::ordered_json;
using namespace sbx;

namespace {

config::Sandboxfile load(const std::string& text, const std::string& dir = "/work/proj") {
  auto f = config::load_string(text, "Sandboxfile", dir);
  REQUIRE(f);
  return *f;
}

render::KubernetesOptions opts() {
  render::KubernetesOptions o;
  o.proxy_image = "registry.example.com/sbx/proxy:1";
  o.repo.git_url = "https://git.example.com/team/app.git";
  return o;
}

const std::string kFile = R"(version = 1
name = "app"
[agent]
command = ["/bin/sh"]
env = { LANG = "C.UTF-8" }
[image]
ref = "registry.example.com/team/agent:1"
[[mount]]
source = "."
target = "/workspace"
mode = "rw"
[[mount]]
source = "./docs"
target = "/docs"
[egress]
allow = ["api.github.com", "*.npmjs.org:443", "10.1.0.0/16:5432", "re:^a[0-9]\\.example\\.com$"]
deny = ["gist.github.com"]
[[secret]]
name = "gh.token"
hosts = ["api.github.com"]
header = "Authorization"
template = "Bearer {}"
)";

const ordered_json& find_named(const ordered_json& list, const std::string& name) {
  for (const auto& c : list)
    if (c["name"] == name) return c;
  FAIL("no item named " << name);
  throw 0;
}

ordered_json spec_of(const config::Sandboxfile& f, const render::KubernetesOptions& o) {
  auto s = render::pod_spec(f, o);
  REQUIRE(s);
  return *s;
}

}  // namespace

TEST_CASE("yaml: nested objects and lists are written in block style with every string quoted", "[render]") {
  const ordered_json doc = {{"a", {{"b", 1}, {"c", true}}},
                            {"list", {{{"name", "x"}, {"v", {"p", "q"}}}, "s"}},
                            {"empty", ordered_json::object()},
                            {"none", ordered_json::array()}};
  CHECK(render::to_yaml(doc) ==
        "a:\n  b: 1\n  c: true\nlist:\n- name: \"x\"\n  v:\n  - \"p\"\n  - \"q\"\n- \"s\"\nempty: {}\nnone: []\n");
}

TEST_CASE("yaml: strings that YAML would read as something else stay strings", "[render][security]") {
  CHECK(render::yaml_quote("yes") == "\"yes\"");
  CHECK(render::yaml_quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(render::yaml_quote("line\n---\nkind: Secret") == "\"line\\n---\\nkind: Secret\"");
  // U+2028 and NEL are line breaks to YAML 1.1 parsers: escaped, never raw.
  CHECK(render::yaml_quote("a\u2028b\u0085c") == "\"a\\u2028b\\u0085c\"");
  CHECK(render::yaml_quote("\x01\x7f") == "\"\\u0001\\u007F\"");
  CHECK(render::yaml_quote("\U0001F600") == "\"\\U0001F600\"");
  CHECK(render::to_yaml(ordered_json{{"on", 1}, {"app.kubernetes.io/name", 2}, {"a b", 3}}) ==
        "\"on\": 1\napp.kubernetes.io/name: 2\n\"a b\": 3\n");
}

TEST_CASE("kubernetes: the proxy's Sandboxfile loads back to the same egress rules and header secrets", "[render]") {
  const auto f = load(kFile);
  const auto text = render::proxy_sandboxfile(f);
  auto back = config::load_string(text, "proxy", "/etc/sbx/egress");
  REQUIRE(back);
  const auto a = config::to_json(f), b = config::to_json(*back);
  CHECK(a["egress"] == b["egress"]);
  CHECK(a["secrets"] == b["secrets"]);
  CHECK(text.find("/workspace") == std::string::npos);  // nothing but egress and secrets
}

TEST_CASE("kubernetes: only the sidecar mounts the Secret, and the agent has no capabilities", "[render][security]") {
  const auto spec = spec_of(load(kFile), opts());
  const auto& agent = find_named(spec["containers"], "agent");
  for (const auto& m : agent["volumeMounts"]) CHECK(m["name"] != "sbx-secrets");
  CHECK(agent["securityContext"]["capabilities"] == ordered_json{{"drop", {"ALL"}}});
  CHECK(agent["securityContext"]["runAsUser"] == 1000);
  CHECK(agent["securityContext"]["allowPrivilegeEscalation"] == false);
  CHECK(spec["automountServiceAccountToken"] == false);
  const auto& proxy = find_named(spec["initContainers"], "sbx-proxy");
  CHECK(proxy["restartPolicy"] == "Always");
  bool secrets = false;
  for (const auto& m : proxy["volumeMounts"]) secrets |= m["name"] == "sbx-secrets" && m["readOnly"] == true;
  CHECK(secrets);
  for (const auto& c : spec["initContainers"])
    if (c["name"] != "sbx-proxy")
      for (const auto& m : c.value("volumeMounts", ordered_json::array())) CHECK(m["name"] != "sbx-secrets");
  const auto& redirect = find_named(spec["initContainers"], "sbx-egress-redirect");
  const auto script = redirect["command"][2].get<std::string>();
  CHECK(script.find("--uid-owner 1000 -j SBX_EGRESS") != std::string::npos);
  CHECK(script.find("--to-ports 15001") != std::string::npos);
  CHECK(spec["initContainers"][0]["name"] == "sbx-egress-redirect");  // before anything the agent's uid runs
  CHECK(ordered_json(spec).dump().find("hostPath") == std::string::npos);
}

TEST_CASE("kubernetes: mounts keep rw and ro and come from the repository", "[render]") {
  const auto spec = spec_of(load(kFile), opts());
  const auto& mounts = find_named(spec["containers"], "agent")["volumeMounts"];
  CHECK(mounts[0] == ordered_json{{"name", "sbx-repo"}, {"mountPath", "/workspace"}, {"readOnly", false}});
  CHECK(mounts[1] == ordered_json{{"name", "sbx-repo"}, {"mountPath", "/docs"}, {"subPath", "docs"}, {"readOnly", true}});
  CHECK(find_named(spec["volumes"], "sbx-repo") == ordered_json{{"name", "sbx-repo"}, {"emptyDir", ordered_json::object()}});
}

TEST_CASE("kubernetes: what cannot map to a cluster is an error that says what to do", "[render]") {
  auto err = [](const std::string& text, render::KubernetesOptions o = opts()) {
    auto r = render::pod_spec(load(text), o);
    REQUIRE_FALSE(r);
    return r.error().message + " | " + r.error().hint;
  };
  CHECK_THAT(err("version = 1\n"), Catch::Contains("built-in image") && Catch::Contains("--image"));
  CHECK_THAT(err("version = 1\n[image]\nref = \"./a.tar\"\n"), Catch::Contains("skopeo copy oci-archive:") && Catch::Contains("proj/a.tar docker://"));
  CHECK_THAT(err("version = 1\n[image]\nref = \"./root\"\n"), Catch::Contains("docker push"));
  CHECK_THAT(err("version = 1\n[image]\nref = \"dev\"\n"), Catch::Contains("dev image") && Catch::Contains("--image"));
  const std::string img = "version = 1\n[image]\nref = \"registry.example.com/a:1\"\n";
  CHECK_THAT(err(img + "[agent]\nuser = \"root\"\n"), Catch::Contains("as root"));
  CHECK_THAT(err(img + "[agent]\nuser = \"dev\"\n"), Catch::Contains("no uid known"));
  CHECK_THAT(err(img + "[agent]\nuser = \"1337\"\n"), Catch::Contains("sidecar"));
  CHECK_THAT(err(img + "[[secret]]\nname = \"db\"\ninject = \"env\"\nenv = \"DB\"\n"), Catch::Contains("inject = \"env\""));
  CHECK_THAT(err(img + "[[mount]]\nsource = \"/srv/cache\"\ntarget = \"/cache\"\n"), Catch::Contains("--claim /cache=CLAIM"));
  auto no_repo = opts();
  no_repo.repo = {};
  CHECK_THAT(err(img + "[[mount]]\nsource = \".\"\ntarget = \"/w\"\n", no_repo), Catch::Contains("--git-url"));
}

TEST_CASE("kubernetes: a claim for a target no mount has is refused", "[render]") {
  auto o = opts();
  o.claims["/nowhere"] = "c";
  auto r = render::pod_spec(load("version = 1\n[image]\nref = \"registry.example.com/a:1\"\n"), o);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("names no [[mount]] target"));
}

TEST_CASE("kubernetes: a claimed host directory becomes that PVC with its mode", "[render]") {
  auto o = opts();
  o.claims["/cache"] = "npm-cache";
  const auto spec = spec_of(
      load("version = 1\n[image]\nref = \"registry.example.com/a:1\"\n[[mount]]\nsource = \"/srv/cache\"\ntarget = \"/cache\"\n"), o);
  CHECK(find_named(spec["volumes"], "sbx-mount-0")["persistentVolumeClaim"] ==
        ordered_json{{"claimName", "npm-cache"}, {"readOnly", true}});
}

TEST_CASE("kubernetes: the NetworkPolicy refuses private, link-local and metadata addresses but allows CIDR rules", "[render][security]") {
  auto m = render::render_kubernetes(load(kFile), opts());
  REQUIRE(m);
  const auto& np = (*m)[1].object;
  REQUIRE(np["kind"] == "NetworkPolicy");
  const auto dump = np.dump();
  for (auto cidr : {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", "fe80::/10", "fc00::/7"})
    CHECK(dump.find(cidr) != std::string::npos);
  const auto& egress = np["spec"]["egress"];
  CHECK(egress[1]["ports"] == ordered_json::array({{{"protocol", "TCP"}, {"port", 80}}, {{"protocol", "TCP"}, {"port", 443}},
                                                   {{"protocol", "TCP"}, {"port", 5432}}}));
  CHECK(egress[2]["to"][0]["ipBlock"] == ordered_json{{"cidr", "10.1.0.0/16"}});
  CHECK(np["spec"]["ingress"] == ordered_json::array());
}

TEST_CASE("kubernetes: the output does not depend on where the project lies", "[render]") {
  const auto a = load(kFile, "/home/a/src/app"), b = load(kFile, "/tmp/other/checkout");
  CHECK(config::digest(a) != config::digest(b));
  CHECK(render::portable_digest(a) == render::portable_digest(b));
  auto ma = render::render_kubernetes(a, opts()), mb = render::render_kubernetes(b, opts());
  REQUIRE(ma);
  REQUIRE(mb);
  CHECK(render::to_yaml_stream(a, *ma) == render::to_yaml_stream(b, *mb));
  // Any change of meaning changes it.
  const auto c = load(kFile + "[resources]\ncpus = 2\n");
  CHECK(render::portable_digest(c) != render::portable_digest(a));
}
