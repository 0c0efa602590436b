package actions

import (
	"strings"
	"testing"
)

// TestNumberSyntax: numbers sent as strings must be JSON numbers; the Go
// literal forms strconv also parses ("0x1p4", "1_0", "+5") are type
// errors, as "0x10" always was (issue 12 item 5).
func TestNumberSyntax(t *testing.T) {
	type req struct {
		I int64   `json:"I"`
		U uint64  `json:"U"`
		F float64 `json:"F"`
	}
	tests := []struct {
		name  string
		field string
		value any
		code  string
	}{
		{"int string", "I", "20", ""},
		{"int string blanks", "I", " 20 ", ""},
		{"int exact float string", "I", "5.0", ""},
		{"int exponent string", "I", "1e3", ""},
		{"int negative string", "I", "-1", ""},
		{"int hex float", "I", "0x1p4", InvalidParameter},
		{"int underscore", "I", "1_0", InvalidParameter},
		{"int hex", "I", "0x10", InvalidParameter},
		{"int plus", "I", "+5", InvalidParameter},
		{"int leading zero", "I", "010", InvalidParameter},
		{"int dot first", "I", ".5e1", InvalidParameter},
		{"int dot last", "I", "5.", InvalidParameter},
		{"int inf", "I", "Inf", InvalidParameter},
		{"int empty", "I", "", InvalidParameter},
		{"uint string", "U", "7", ""},
		{"uint hex float", "U", "0x1p4", InvalidParameter},
		{"uint underscore", "U", "1_0", InvalidParameter},
		{"uint negative", "U", "-3", InvalidParameterValue},
		{"float string", "F", "2.5", ""},
		{"float hex float", "F", "0x1p-2", InvalidParameter},
		{"float underscore", "F", "1_000.5", InvalidParameter},
		{"float infinity", "F", "Infinity", InvalidParameter},
		{"float nan", "F", "NaN", InvalidParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r req
			err := Decode(map[string]any{tt.field: tt.value}, &r)
			if got := CodeOf(err); got != tt.code {
				t.Fatalf("Decode(%s=%q): code %q (%v), want %q", tt.field, tt.value, got, err, tt.code)
			}
		})
	}
	var r req
	if err := Decode(map[string]any{"I": "0x1p4"}, &r); err == nil || !strings.Contains(err.Error(), "`I`") {
		t.Fatalf("the error must name the parameter: %v", err)
	}
}
