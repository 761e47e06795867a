#include "sqlite.hpp"

#include <stdexcept>

#include <sqlite3.h>

namespace framepipe::http::sqlite {

void ConnectionCloser::operator()(sqlite3* connection) const noexcept {
  sqlite3_close_v2(connection);
}

void StatementFinalizer::operator()(sqlite3_stmt* statement) const noexcept {
  sqlite3_finalize(statement);
}

Connection open(const std::filesystem::path& path, std::string_view what) {
  sqlite3* raw = nullptr;
  const int result =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Connection connection(raw);  // sqlite3_open_v2 allocates a handle even when it fails
  if (result != SQLITE_OK) {
    throw std::runtime_error("cannot open " + std::string(what) + " " + path.string() + ": " +
                             (raw != nullptr ? sqlite3_errmsg(raw) : "out of memory"));
  }
  sqlite3_busy_timeout(raw, 5000);
  execute(raw, "PRAGMA journal_mode=WAL");
  execute(raw, "PRAGMA synchronous=NORMAL");
  return connection;
}

void execute(sqlite3* connection, std::string_view sql) {
  char* message = nullptr;
  const std::string text(sql);
  if (sqlite3_exec(connection, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string why = message != nullptr ? message : sqlite3_errmsg(connection);
    sqlite3_free(message);
    throw std::runtime_error("sqlite: " + why);
  }
}

int64_t changes(sqlite3* connection) {
  return sqlite3_changes64(connection);
}

Statement::Statement(sqlite3* connection, std::string_view sql) : connection_(connection) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(connection, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) !=
      SQLITE_OK) {
    throw std::runtime_error(std::string("sqlite: cannot prepare statement: ") +
                             sqlite3_errmsg(connection));
  }
  statement_.reset(raw);
}

void Statement::bind(int index, std::string_view text) {
  check(sqlite3_bind_text(statement_.get(), index, text.data(), static_cast<int>(text.size()),
                          SQLITE_TRANSIENT));
}

void Statement::bind(int index, int64_t value) {
  check(sqlite3_bind_int64(statement_.get(), index, value));
}

void Statement::bind(int index, double value) {
  check(sqlite3_bind_double(statement_.get(), index, value));
}

void Statement::bind(int index, const std::optional<int64_t>& value) {
  if (value) return bind(index, *value);
  check(sqlite3_bind_null(statement_.get(), index));
}

void Statement::bind(int index, const std::optional<std::string>& value) {
  if (value) return bind(index, std::string_view(*value));
  check(sqlite3_bind_null(statement_.get(), index));
}

bool Statement::step() {
  const int result = sqlite3_step(statement_.get());
  if (result == SQLITE_ROW) return true;
  if (result == SQLITE_DONE) return false;
  throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(connection_));
}

void Statement::run() {
  try {
    step();
  } catch (...) {
    reset();
    throw;
  }
  reset();
}

void Statement::reset() {
  sqlite3_reset(statement_.get());
  sqlite3_clear_bindings(statement_.get());
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(statement_.get(), column) == SQLITE_NULL;
}

int64_t Statement::integer(int column) const {
  return sqlite3_column_int64(statement_.get(), column);
}

std::optional<int64_t> Statement::optional_integer(int column) const {
  if (is_null(column)) return std::nullopt;
  return integer(column);
}

double Statement::real(int column) const {
  return sqlite3_column_double(statement_.get(), column);
}

std::string Statement::text(int column) const {
  const auto* bytes = sqlite3_column_text(statement_.get(), column);
  const int size = sqlite3_column_bytes(statement_.get(), column);
  if (bytes == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(bytes), static_cast<size_t>(size));
}

void Statement::check(int result) const {
  if (result != SQLITE_OK) {
    throw std::runtime_error(std::string("sqlite: cannot bind: ") + sqlite3_errmsg(connection_));
  }
}

Transaction::Transaction(sqlite3* connection) : connection_(connection) {
  execute(connection_, "BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
  // A failed statement may have rolled back already (SQLite does so on some errors); the
  // rollback then fails harmlessly.
  if (open_) sqlite3_exec(connection_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  execute(connection_, "COMMIT");
  open_ = false;
}

}  // namespace framepipe::http::sqlite
