// The secrets of user accounts, made and checked with libsodium: random tokens and their stored
// digests, constant-time comparison, argon2id password hashes, and the rules for user names and
// passwords. Thread-safe; libsodium is initialized once, on first use.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace framepipe::http {

// Names are 1-64 Unicode characters (code points, so that a name in any script gets the same
// length; at most 256 bytes), passwords 10 characters to 1024 bytes (the upper bound caps the
// work a login request can ask for).
inline constexpr size_t kMaxNameCharacters = 64;
inline constexpr size_t kMinPasswordCharacters = 10;
inline constexpr size_t kMaxPasswordBytes = 1024;
// Every token carries at least this much randomness, whatever the caller asks for.
inline constexpr size_t kMinTokenBytes = 16;

// The argon2id work per password. `interactive` for the product (libsodium's INTERACTIVE limits:
// 2 passes over 64 MiB, tens of milliseconds); `minimal` (1 pass over 8 KiB) only for tests.
enum class PasswordCost { interactive, minimal };

// `bytes` random bytes (at least kMinTokenBytes) as URL-safe base64 without padding: 43
// characters for the default 32. Throws std::runtime_error if libsodium cannot be initialized.
std::string random_token(size_t bytes = 32);

// A short id (12 URL-safe characters, 72 random bits) that names a credential or a share in lists
// and URLs. Not a secret: it only has to be unique.
std::string random_public_id();

// The form in which a token is stored: BLAKE2b-256 of it, 64 lower-case hex digits. A fast hash
// is right for tokens because they are random; it would be wrong for passwords.
std::string token_digest(std::string_view token);

// Whether `a` and `b` are equal, in time that depends on their length only, never on where they
// differ. Texts of different lengths are unequal (the length is not treated as secret).
bool same_secret(std::string_view a, std::string_view b);

// The argon2id hash of `password` in libsodium's string form ("$argon2id$v=19$m=...,t=...,p=1$
// salt$hash"), with a fresh random salt. Throws std::runtime_error when out of memory, and
// std::invalid_argument for a password over kMaxPasswordBytes (check password_problem first).
std::string hash_password(std::string_view password, PasswordCost cost);

// Whether `password` matches `hash` (from hash_password, at whatever cost it was made). False for
// a malformed hash and, without hashing, for a password over kMaxPasswordBytes.
bool password_matches(std::string_view hash, std::string_view password);

// Why `name` cannot be a user name, or nothing when it can: 1-64 characters of valid UTF-8,
// without control or invisible characters (see is_hidden in names.hpp), line separators or '/',
// not beginning or ending with a space.
std::optional<std::string> username_problem(std::string_view name);

// Why `password` cannot be a password, or nothing when it can: at least 10 characters, at most
// 1024 bytes, valid UTF-8 without NUL characters.
std::optional<std::string> password_problem(std::string_view password);

}  // namespace framepipe::http
