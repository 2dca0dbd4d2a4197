// libgit2 for Swift. Swift cannot call C variadic functions, so each use of
// git_libgit2_opts that Baton needs gets a typed wrapper here.
#ifndef BATON_CGIT2_SHIM_H
#define BATON_CGIT2_SHIM_H

#include <git2.h>
#include <zlib.h>

/// Sets where libgit2 looks for the global, XDG, system or program-data config
/// (`level` is a git_config_level_t). An empty path means "look nowhere".
static inline int cgit2_set_search_path(int level, const char *path) {
    return git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, path);
}

/// Reads where libgit2 looks for config of `level` into `out` (free it with git_buf_dispose).
static inline int cgit2_get_search_path(int level, git_buf *out) {
    return git_libgit2_opts(GIT_OPT_GET_SEARCH_PATH, level, out);
}

/// Turns checking that a repository is owned by the current user on or off.
static inline int cgit2_set_owner_validation(int enabled) {
    return git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, enabled);
}

/// Turns verification of objects' validity when they are created on or off.
static inline int cgit2_set_strict_object_creation(int enabled) {
    return git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, enabled);
}

/// Sets the user agent libgit2 sends over HTTP(S).
static inline int cgit2_set_user_agent(const char *agent) {
    return git_libgit2_opts(GIT_OPT_SET_USER_AGENT, agent);
}

/// Sets the most memory all repositories' object caches may hold together, in bytes.
static inline int cgit2_set_cache_max_size(ssize_t bytes) {
    return git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, bytes);
}

#endif
