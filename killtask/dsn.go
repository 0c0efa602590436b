package killtask

import (
	"errors"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Network timeouts of every MySQL connection killgate opens (nodes and the
// MySQL store) when the DSN sets none: a dead server or network fails a
// call instead of hanging it.
const (
	dsnDialTimeout = 5 * time.Second  // mysql.Config.Timeout
	dsnIOTimeout   = 30 * time.Second // ReadTimeout and WriteTimeout
)

// parseDSN parses a go-sql-driver DSN and sets the default network timeouts
// where the DSN has none. Parse errors never echo the DSN.
func parseDSN(dsn string) (*mysql.Config, error) {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, redactDSNError(err)
	}
	if mc.Timeout == 0 {
		mc.Timeout = dsnDialTimeout
	}
	if mc.ReadTimeout == 0 {
		mc.ReadTimeout = dsnIOTimeout
	}
	if mc.WriteTimeout == 0 {
		mc.WriteTimeout = dsnIOTimeout
	}
	return mc, nil
}

// redactDSNError keeps a DSN parse error from echoing the DSN (and its
// password) back to logs or callers.
func redactDSNError(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return err
	}
	return errors.New("invalid DSN (value not shown)")
}
