#include "supervisor/egress.h"

namespace sbx::supervisor {

Result<vmm::Fd> open_egress(const EgressRequest& request) {
  (void)request;
  return fail(ErrorCode::permission,
              "sbx egress proxy is not available yet: this sandbox has no outbound network",
              "network access arrives with the egress proxy ([egress] in the Sandboxfile)");
}

}  // namespace sbx::supervisor
