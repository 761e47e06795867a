#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

// The secrets are private to the http-frontend; the header needs only the standard library.
#include "../http-frontend/src/secrets.hpp"

using namespace framepipe::http;

namespace {

bool url_safe(const std::string& text) {
  return text.find_first_not_of(
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
         std::string::npos;
}

}  // namespace

TEST_CASE("secrets: tokens are URL-safe base64 without padding, never repeated", "[secrets]") {
  const std::string token = random_token();
  CHECK(token.size() == 43);  // 32 bytes
  CHECK(url_safe(token));
  CHECK(random_token(48).size() == 64);
  // Asking for less still gives 128 bits.
  CHECK(random_token(0).size() == 22);
  CHECK(random_token(4).size() == 22);

  std::set<std::string> seen;
  std::set<char> alphabet;
  std::vector<std::set<char>> at_position(43);
  for (int i = 0; i < 2000; ++i) {
    const std::string next = random_token();
    REQUIRE(next.size() == 43);
    CHECK(url_safe(next));
    seen.insert(next);
    alphabet.insert(next.begin(), next.end());
    for (size_t p = 0; p < next.size(); ++p) at_position[p].insert(next[p]);
  }
  CHECK(seen.size() == 2000);
  // 2000 random tokens use all 64 characters of the alphabet at every position but the last
  // (which holds 4 bits: 16 characters). A generator that fills only part of the token, or
  // repeats a block, or draws from a small alphabet, would not.
  CHECK(alphabet.size() == 64);
  for (size_t p = 0; p + 1 < at_position.size(); ++p) CHECK(at_position[p].size() == 64);
  CHECK(at_position.back().size() == 16);

  const std::string id = random_public_id();
  CHECK(id.size() == 12);
  CHECK(url_safe(id));
  CHECK(random_public_id() != id);
}

TEST_CASE("secrets: a token's digest is stable hex and differs from token to token", "[secrets]") {
  const std::string digest = token_digest("abc");
  // BLAKE2b with 32 bytes of output (Python: hashlib.blake2b(b"abc", digest_size=32)).
  CHECK(digest == "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
  CHECK(token_digest("abc") == digest);
  CHECK(token_digest("abd") != digest);
  CHECK(token_digest("").size() == 64);
  const std::string token = random_token();
  CHECK(token_digest(token) == token_digest(std::string(token)));
  CHECK(token_digest(token).find(token) == std::string::npos);
}

TEST_CASE("secrets: same_secret is equality, whatever the lengths", "[secrets]") {
  CHECK(same_secret("secret-token", "secret-token"));
  CHECK_FALSE(same_secret("secret-token", "secret-tokeN"));
  CHECK_FALSE(same_secret("Secret-token", "secret-token"));
  CHECK_FALSE(same_secret("secret-token", "secret-token-longer"));
  CHECK_FALSE(same_secret("secret-token", ""));
  CHECK_FALSE(same_secret("", "x"));
  CHECK(same_secret("", ""));
  CHECK(same_secret(std::string("a\0b", 3), std::string("a\0b", 3)));
  CHECK_FALSE(same_secret(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST_CASE("secrets: argon2id password hashes", "[secrets]") {
  const std::string password = "correct horse battery staple";
  const std::string hash = hash_password(password, PasswordCost::minimal);
  CHECK(hash.rfind("$argon2id$", 0) == 0);
  CHECK(hash.find("m=8,t=1,") != std::string::npos);  // the minimal cost: 8 KiB, 1 pass
  CHECK(hash.find(password) == std::string::npos);
  CHECK(password_matches(hash, password));
  CHECK_FALSE(password_matches(hash, "correct horse battery stapler"));
  CHECK_FALSE(password_matches(hash, ""));
  // A fresh salt each time: the same password hashes differently, and both match.
  const std::string again = hash_password(password, PasswordCost::minimal);
  CHECK(again != hash);
  CHECK(password_matches(again, password));

  CHECK_FALSE(password_matches("", password));
  CHECK_FALSE(password_matches("$argon2id$v=19$m=8,t=1,p=1$garbage", password));
  CHECK_FALSE(password_matches(std::string(5000, '$'), password));
  CHECK_FALSE(password_matches(hash, std::string(kMaxPasswordBytes + 1, 'a')));
  CHECK_THROWS_AS(hash_password(std::string(kMaxPasswordBytes + 1, 'a'), PasswordCost::minimal),
                  std::invalid_argument);
}

TEST_CASE("secrets: user names are 1-64 characters without control characters or '/'",
          "[secrets]") {
  CHECK_FALSE(username_problem("ada"));
  CHECK_FALSE(username_problem("Ada Lovelace"));  // a space inside is fine
  CHECK_FALSE(username_problem("a"));
  CHECK_FALSE(username_problem(std::string(64, 'a')));
  CHECK(username_problem(std::string(65, 'a')) == "names are 1-64 characters");
  CHECK(username_problem("") == "names are 1-64 characters");
  CHECK(username_problem(std::string(1'000'000, 'a')) == "names are 1-64 characters");

  // Characters, not bytes: 64 three-byte characters are fine, 65 are not.
  std::string kanji;
  for (int i = 0; i < 64; ++i) kanji += "\xE5\xAD\x97";  // 字
  CHECK_FALSE(username_problem(kanji));
  CHECK(username_problem(kanji + "\xE5\xAD\x97") == "names are 1-64 characters");
  CHECK_FALSE(username_problem("\xC3\x89mile"));  // Émile

  CHECK(username_problem("ada\xFF") == "names must be valid UTF-8");
  CHECK(username_problem("\xC0\xAF") == "names must be valid UTF-8");         // an overlong '/'
  CHECK(username_problem("ada\xE5\xAD") == "names must be valid UTF-8");      // cut short
  CHECK(username_problem("ada\xED\xA0\x80") == "names must be valid UTF-8");  // a surrogate
  const std::string hidden = "names cannot contain control or invisible characters";
  CHECK(username_problem("ada\nbob") == hidden);
  CHECK(username_problem("ada\tbob") == hidden);
  CHECK(username_problem(std::string("ada\0", 4)) == hidden);
  CHECK(username_problem("ada\x7F") == hidden);
  CHECK(username_problem("ad\xE2\x80\x8B"
                         "a") == hidden);  // a zero-width space
  CHECK(username_problem("\xE2\x80\xAE"
                         "ada") == hidden);              // a right-to-left override
  CHECK(username_problem("ada\xE2\x80\xA8") == hidden);  // a line separator
  CHECK(username_problem("ada/bob") == "names cannot contain '/'");
  CHECK(username_problem("/") == "names cannot contain '/'");
  const std::string ends = "names cannot begin or end with a space";
  CHECK(username_problem(" ada") == ends);
  CHECK(username_problem("ada ") == ends);
  CHECK(username_problem(" ") == ends);
  CHECK(username_problem("ada\xC2\xA0") == ends);  // a no-break space
  CHECK(username_problem("\xE3\x80\x80"
                         "ada") == ends);  // an ideographic space
}

TEST_CASE("secrets: passwords are 10 characters to 1024 bytes of UTF-8 without NUL", "[secrets]") {
  CHECK_FALSE(password_problem("0123456789"));
  CHECK(password_problem("012345678") == "passwords are at least 10 characters");
  CHECK(password_problem("") == "passwords are at least 10 characters");
  // Ten characters of two bytes each are ten characters; five of them are not, in ten bytes.
  std::string umlauts;
  for (int i = 0; i < 10; ++i) umlauts += "\xC3\xBC";  // ü
  CHECK_FALSE(password_problem(umlauts));
  CHECK(password_problem(umlauts.substr(0, 10)) == "passwords are at least 10 characters");

  CHECK_FALSE(password_problem(std::string(kMaxPasswordBytes, 'a')));
  CHECK(password_problem(std::string(kMaxPasswordBytes + 1, 'a')) ==
        "passwords are at most 1024 bytes");
  CHECK(password_problem(std::string(10'000'000, 'a')) == "passwords are at most 1024 bytes");

  const std::string encoding = "passwords must be valid UTF-8 without NUL characters";
  CHECK(password_problem(std::string("0123456789\0", 11)) == encoding);
  CHECK(password_problem("0123456789\xFF") == encoding);
  CHECK(password_problem("0123456789\xC3") == encoding);
  CHECK_FALSE(password_problem("tab\tinside is fine"));
}
