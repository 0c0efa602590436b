package actions

import "strings"

// SqlType of DescribeMySqlProcessList rows: a statement classified by its
// first keyword.

// sqlTypes maps a statement's first keyword to the SqlType DBbrain shows
// (its example answers "SQLSelectStatement").
var sqlTypes = map[string]string{
	"SELECT": "SQLSelectStatement", "INSERT": "SQLInsertStatement", "UPDATE": "SQLUpdateStatement",
	"DELETE": "SQLDeleteStatement", "REPLACE": "SQLReplaceStatement", "CREATE": "SQLCreateStatement",
	"ALTER": "SQLAlterStatement", "DROP": "SQLDropStatement", "TRUNCATE": "SQLTruncateStatement",
	"SHOW": "SQLShowStatement", "SET": "SQLSetStatement", "CALL": "SQLCallStatement",
	"WITH": "SQLSelectStatement", "LOAD": "SQLLoadDataStatement", "GRANT": "SQLGrantStatement",
	"REVOKE": "SQLRevokeStatement", "KILL": "SQLKillStatement", "BEGIN": "SQLStartTransactionStatement",
	"START": "SQLStartTransactionStatement", "COMMIT": "SQLCommitStatement", "ROLLBACK": "SQLRollbackStatement",
	"EXPLAIN": "SQLExplainStatement", "DESC": "SQLExplainStatement", "DESCRIBE": "SQLExplainStatement",
	"USE": "SQLUseStatement", "LOCK": "SQLLockTableStatement", "UNLOCK": "SQLUnlockTablesStatement",
	"OPTIMIZE": "SQLOptimizeStatement", "ANALYZE": "SQLAnalyzeStatement",
}

// SqlType classifies a statement by its first keyword after leading
// whitespace, comments and parentheses; nil when there is no statement or
// the keyword is not one of sqlTypes.
func SqlType(info string) *string {
	s := info
	for {
		s = strings.TrimLeft(s, " \t\r\n(")
		switch {
		case strings.HasPrefix(s, "/*"):
			end := strings.Index(s[2:], "*/")
			if end < 0 {
				return nil
			}
			s = s[2+end+2:]
			continue
		case strings.HasPrefix(s, "--"), strings.HasPrefix(s, "#"):
			nl := strings.IndexByte(s, '\n')
			if nl < 0 {
				return nil
			}
			s = s[nl+1:]
			continue
		}
		break
	}
	end := strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if end < 0 {
		end = len(s)
	}
	t, ok := sqlTypes[strings.ToUpper(s[:end])]
	if !ok {
		return nil
	}
	return &t
}
