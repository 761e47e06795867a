#include "secrets.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <sodium.h>

#include "names.hpp"

namespace framepipe::http {
namespace {

constexpr size_t kPublicIdBytes = 9;
constexpr size_t kDigestBytes = crypto_generichash_BYTES;  // 32
// No character is longer than 4 bytes: a longer name is too long without decoding it.
constexpr size_t kMaxNameBytes = 4 * kMaxNameCharacters;

// sodium_init() is thread-safe and idempotent; the static makes the check once per process.
void initialize_sodium() {
  static const int result = sodium_init();
  if (result < 0) throw std::runtime_error("libsodium cannot be initialized");
}

std::string url_safe_base64(const std::vector<unsigned char>& bytes) {
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string text(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(text.data(), text.size(), bytes.data(), bytes.size(), kVariant);
  text.resize(text.size() - 1);  // the terminating NUL
  return text;
}

std::string random_base64(size_t bytes) {
  initialize_sodium();
  std::vector<unsigned char> random(bytes);
  randombytes_buf(random.data(), random.size());
  std::string text = url_safe_base64(random);
  sodium_memzero(random.data(), random.size());
  return text;
}

// Spaces that may sit inside a name but not at either end, where nobody would see them.
bool is_space(uint32_t code_point) {
  return code_point == 0x20 || code_point == 0xA0 || code_point == 0x1680 ||
         (code_point >= 0x2000 && code_point <= 0x200A) || code_point == 0x202F ||
         code_point == 0x205F || code_point == 0x3000;
}

bool is_line_separator(uint32_t code_point) {
  return code_point == 0x2028 || code_point == 0x2029;
}

}  // namespace

std::string random_token(size_t bytes) {
  return random_base64(std::max(bytes, kMinTokenBytes));
}

std::string random_public_id() {
  return random_base64(kPublicIdBytes);
}

std::string token_digest(std::string_view token) {
  initialize_sodium();
  unsigned char digest[kDigestBytes];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  char hex[kDigestBytes * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string(hex, kDigestBytes * 2);
}

bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  initialize_sodium();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string hash_password(std::string_view password, PasswordCost cost) {
  if (password.size() > kMaxPasswordBytes) {
    throw std::invalid_argument("a password over " + std::to_string(kMaxPasswordBytes) +
                                " bytes could never be checked (see password_problem)");
  }
  initialize_sodium();
  const bool interactive = cost == PasswordCost::interactive;
  const unsigned long long passes = interactive ? crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE
                                                : crypto_pwhash_argon2id_OPSLIMIT_MIN;
  const size_t memory = interactive ? crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE
                                    : crypto_pwhash_argon2id_MEMLIMIT_MIN;
  char hash[crypto_pwhash_argon2id_STRBYTES];
  if (crypto_pwhash_argon2id_str(hash, password.data(), password.size(), passes, memory) != 0) {
    throw std::runtime_error("out of memory for the argon2id password hash");
  }
  return std::string(hash);
}

bool password_matches(std::string_view hash, std::string_view password) {
  if (password.size() > kMaxPasswordBytes) return false;
  if (hash.size() >= crypto_pwhash_STRBYTES) return false;
  initialize_sodium();
  const std::string terminated(hash);  // libsodium reads a NUL-terminated string
  return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

std::optional<std::string> username_problem(std::string_view name) {
  const std::string length_rule =
      "names are 1-" + std::to_string(kMaxNameCharacters) + " characters";
  if (name.empty() || name.size() > kMaxNameBytes) return length_rule;
  size_t characters = 0;
  uint32_t first = 0;
  uint32_t last = 0;
  for (std::string_view rest = name; !rest.empty(); ++characters) {
    uint32_t code_point = 0;
    const size_t length = decode_utf8(rest, code_point);
    if (length == 0) return "names must be valid UTF-8";
    if (is_hidden(code_point) || is_line_separator(code_point)) {
      return "names cannot contain control or invisible characters";
    }
    if (code_point == '/') return "names cannot contain '/'";
    if (characters == 0) first = code_point;
    last = code_point;
    rest.remove_prefix(length);
  }
  if (characters > kMaxNameCharacters) return length_rule;
  if (is_space(first) || is_space(last)) return "names cannot begin or end with a space";
  return std::nullopt;
}

std::optional<std::string> password_problem(std::string_view password) {
  const std::string length_rule =
      "passwords are at least " + std::to_string(kMinPasswordCharacters) + " characters";
  if (password.size() > kMaxPasswordBytes) {
    return "passwords are at most " + std::to_string(kMaxPasswordBytes) + " bytes";
  }
  if (password.size() < kMinPasswordCharacters) return length_rule;
  size_t characters = 0;
  for (std::string_view rest = password; !rest.empty(); ++characters) {
    uint32_t code_point = 0;
    const size_t length = decode_utf8(rest, code_point);
    if (length == 0 || code_point == 0) {
      return "passwords must be valid UTF-8 without NUL characters";
    }
    rest.remove_prefix(length);
  }
  if (characters < kMinPasswordCharacters) return length_rule;
  return std::nullopt;
}

}  // namespace framepipe::http
