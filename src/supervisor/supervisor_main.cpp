// sbx-supervisor: the lean executable behind `sbx __supervise` and `sbx __egress`. A sandbox's
// supervisor and its egress proxy live as long as the sandbox, so they should not carry the CLI's
// image and registry libraries (libarchive, libcurl and their ~35 dependencies doubled the
// supervisor's RSS). sbx starts it when it sits next to the sbx binary and is executable.
#include <exception>
#include <iostream>
#include <string_view>

#include "common/log.h"
#include "supervisor/egress_link.h"
#include "supervisor/egress_child.h"
#include "supervisor/spawn.h"
#include "supervisor/supervisor.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "sbx-supervisor: internal program of sbx; started by 'sbx up', not by hand\n";
    return 2;
  }
  const std::string_view role = argv[1];
  sbx::log::init("info");  // stderr is the sandbox's supervisor.log
  try {
    if (role == sbx::supervisor::kSuperviseCommand) return sbx::supervisor::run_supervisor(argv[2]);
    if (role == sbx::supervisor::kEgressCommand) return sbx::supervisor::run_egress_process(argv[2], 3);
  } catch (const std::exception& e) {
    std::cerr << "sbx-supervisor: internal error: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "sbx-supervisor: unknown role '" << role << "'\n";
  return 2;
}
