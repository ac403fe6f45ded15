// What the C++ shims share: every extern "C" call returns 0 on success, or -1 with the
// reason in `err`, so that no C++ exception crosses into Rust.
#pragma once

#include <c10/util/Exception.h>

#include <cstring>
#include <exception>
#include <string>

inline int spe_fail(char* err, size_t len, const std::string& what) {
  if (len > 0) {
    std::strncpy(err, what.c_str(), len - 1);
    err[len - 1] = '\0';
  }
  return -1;
}

// Runs `body`, turning an exception into -1 and its message (without libtorch's backtrace).
template <typename F>
int spe_guarded(char* err, size_t len, F body) {
  try {
    body();
    return 0;
  } catch (const c10::Error& e) {
    return spe_fail(err, len, e.what_without_backtrace());
  } catch (const std::exception& e) {
    return spe_fail(err, len, e.what());
  } catch (...) {
    return spe_fail(err, len, "unknown C++ exception");
  }
}
