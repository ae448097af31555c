#pragma once
// The guest's /etc/hosts names its hostname: sudo, and other tools that resolve their own host
// name, otherwise print "unable to resolve host" (or wait on DNS) for every command.
#include <string>

namespace sbx::guest::agent {

/// Add "127.0.1.1 NAME" to `hosts` unless a line already names `name` (Debian's convention for
/// the machine's own name). "" on success or when nothing was needed, else why not.
std::string name_host_in_hosts(const std::string& name, const std::string& hosts = "/etc/hosts");

}  // namespace sbx::guest::agent
