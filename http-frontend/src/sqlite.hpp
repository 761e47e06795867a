// Thin RAII owners over SQLite's C API for the http-frontend's databases (the job list, the
// accounts): a connection, prepared statements, transactions. Every SQLite failure throws
// std::runtime_error with SQLite's message; nothing here is thread-safe (each owner of a
// connection guards it with its own mutex).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace framepipe::http::sqlite {

struct ConnectionCloser {
  void operator()(sqlite3* connection) const noexcept;
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const noexcept;
};
using Connection = std::unique_ptr<sqlite3, ConnectionCloser>;

// Opens (creating if needed) the database at `path` in WAL mode with synchronous=NORMAL and a 5 s
// busy timeout. Throws std::runtime_error naming `what` ("the job database") and the path.
Connection open(const std::filesystem::path& path, std::string_view what);

// Runs one or more statements that return no rows. Throws std::runtime_error.
void execute(sqlite3* connection, std::string_view sql);

// The number of rows the last INSERT, UPDATE or DELETE on `connection` changed.
int64_t changes(sqlite3* connection);

// A prepared statement: bind by 1-based index, step, read columns, reset for reuse.
class Statement {
 public:
  // Throws std::runtime_error if `sql` does not compile.
  Statement(sqlite3* connection, std::string_view sql);

  void bind(int index, std::string_view text);
  void bind(int index, int64_t value);
  void bind(int index, double value);
  void bind(int index, const std::optional<int64_t>& value);  // nothing binds NULL
  void bind(int index, const std::optional<std::string>& value);

  // True while there is a row to read; false when done. Throws on errors.
  bool step();
  // Steps once (a statement without rows) and resets, also when stepping throws.
  void run();
  void reset();

  bool is_null(int column) const;
  int64_t integer(int column) const;
  std::optional<int64_t> optional_integer(int column) const;  // nothing for NULL
  double real(int column) const;
  std::string text(int column) const;

 private:
  void check(int result) const;

  sqlite3* connection_;  // borrowed from the connection's owner, which outlives the statement
  std::unique_ptr<sqlite3_stmt, StatementFinalizer> statement_;
};

// BEGIN IMMEDIATE on construction: the write lock is taken at once, so that what a transaction
// reads cannot change before it writes (another process on the same file waits up to the busy
// timeout, then this throws). Rolls back on destruction unless commit() was called.
class Transaction {
 public:
  explicit Transaction(sqlite3* connection);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Throws std::runtime_error if the commit fails (the destructor then rolls back).
  void commit();

 private:
  sqlite3* connection_;  // borrowed
  bool open_ = true;
};

}  // namespace framepipe::http::sqlite
