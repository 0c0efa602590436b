package actions

import (
	"errors"
	"testing"

	"go.uber.org/zap"
)

// FuzzDecodeActions feeds arbitrary bodies to every registered action's
// decoder: each input ends in a typed request or an *Error with a catalogued
// code — never a panic or an uncatalogued error.
func FuzzDecodeActions(f *testing.F) {
	acts := NewService(nil, zap.NewNop()).Actions()
	seeds := []string{
		`{}`, `{"InstanceId":"cdb-1","Duration":-1}`,
		`{"InstanceId":"cdb-1","Duration":"60","Infos":["select","update"],"Time":"5"}`,
		`{"InstanceId":"cdb-1","Stage":"Prepare","Threads":[1,2,3]}`,
		`{"InstanceId":"cdb-1","Stage":"Commit","SqlExecId":"x","RecordHistory":"false"}`,
		`{"InstanceId":"cdb-1","StatDimensions":[{"Dimension":"SqlTag","Data":["p=position"]}],"Limit":"20"}`,
		`{"Offset":1e3,"Limit":-1}`, `{"Duration":99999999999999999999}`, `{"a":{"b":{"c":[[[[]]]]}}}`,
		`{"InstanceId":null}`, `[]`, `"x"`, `{"InstanceId":"a","InstanceId":"b"}`, "{\"x\":\"\xff\"}",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint8(i))
	}
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		a := acts[int(which)%len(acts)]
		m, err := ParseJSON(body)
		if err == nil {
			_, err = a.Decode(m)
		}
		if err == nil {
			return
		}
		var ae *Error
		if !errors.As(err, &ae) {
			t.Fatalf("%s: non-API error %v", a.Name, err)
		}
		if _, ok := Catalog[ae.Code]; !ok {
			t.Fatalf("%s: code %s not in the catalog", a.Name, ae.Code)
		}
	})
}
