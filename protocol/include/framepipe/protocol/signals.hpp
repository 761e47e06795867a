// Designed shutdown: SIGINT/SIGTERM only set an atomic flag; every role's loop polls with a
// timeout and checks stop_requested().
#pragma once

namespace framepipe {

// Installs the handlers for SIGINT and SIGTERM (and ignores SIGPIPE). Idempotent.
void install_stop_handlers();
bool stop_requested();

}  // namespace framepipe
