package actions

import (
	"encoding/json"
	"testing"
)

const benchCreateBody = `{"InstanceId":"cdb-8jawylhf","Duration":600,"Host":"10.0.0.12","DB":"app,report","Command":"Query","Infos":["select * from big","update orders"],"User":"app","Time":30,"Product":"mysql"}`

// BenchmarkParseJSONDecodeCreateKillTask is the JSON (signature v3) decoding
// of a CreateKillTask body: ParseJSON (strict, generic map), then Decode.
func BenchmarkParseJSONDecodeCreateKillTask(b *testing.B) {
	body := []byte(benchCreateBody)
	b.ReportAllocs()
	for b.Loop() {
		m, err := ParseJSON(body)
		if err != nil {
			b.Fatal(err)
		}
		var r CreateKillTaskRequest
		if err := Decode(m, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorJSONUnmarshalCreateKillTask is its floor: encoding/json
// straight into the struct (no strictness, no paths in errors).
func BenchmarkFloorJSONUnmarshalCreateKillTask(b *testing.B) {
	body := []byte(benchCreateBody)
	b.ReportAllocs()
	for b.Loop() {
		var r CreateKillTaskRequest
		if err := json.Unmarshal(body, &r); err != nil {
			b.Fatal(err)
		}
	}
}
