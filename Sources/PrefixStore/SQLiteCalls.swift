import GRDB
internal import GRDBSQLite

/// The few SQLite C calls GRDB does not wrap, each checked.
enum SQLiteCalls {
    /// Keeps the `-wal` and `-shm` files when the last connection closes
    /// (`SQLITE_FCNTL_PERSIST_WAL`), so that a reader without write permission (another user,
    /// a read-only mount) can always open the catalog: SQLite reads a WAL database read-only
    /// only when those files exist. The corresponding call is `sqlite3_file_control`.
    static func persistWAL(_ db: Database) throws {
        var flag: CInt = 1
        let code = withUnsafeMutablePointer(to: &flag) { sqlite3_file_control(db.sqliteConnection, nil, SQLITE_FCNTL_PERSIST_WAL, $0) }
        guard code == SQLITE_OK else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "cannot keep the write-ahead log")
        }
    }
}
