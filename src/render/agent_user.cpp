#include "render/agent_user.h"

#include "common/text.h"
#include "render/pod.h"

namespace sbx::render {

Result<AgentIds> agent_ids(const config::Agent& a) {
  const Location where = a.location;
  if (a.user == "agent") return AgentIds{kDefaultAgentUid, kDefaultAgentUid};
  const auto colon = a.user.find(':');
  auto uid = text::parse_uint(a.user.substr(0, colon), 0, 2147483647);
  std::optional<std::uint64_t> gid;
  if (colon != std::string::npos) gid = text::parse_uint(a.user.substr(colon + 1), 0, 2147483647);
  if (a.user == "root" || a.user.starts_with("root:")) uid = 0;
  if (!uid || (colon != std::string::npos && !gid))
    return fail(ErrorCode::invalid, "[agent] user '" + a.user + "' has no uid known here",
                "a cluster runs the agent by number (runAsUser) and redirects its traffic by uid: write the image's "
                "numbers, e.g. user = \"1000:1000\"",
                where);
  if (*uid == 0)
    return fail(ErrorCode::invalid, "[agent] user '" + a.user + "' runs the agent as root",
                "on a cluster the agent runs as a non-root uid (runAsNonRoot): write user = \"1000:1000\" or another uid",
                where);
  if (*uid == kProxyUid)
    return fail(ErrorCode::invalid, "[agent] uid " + std::to_string(kProxyUid) + " is the egress sidecar's",
                "its traffic would not be redirected: choose another uid", where);
  AgentIds ids{static_cast<long>(*uid), std::nullopt};
  if (gid) ids.gid = static_cast<long>(*gid);
  return ids;
}

}  // namespace sbx::render
