package gateway

import (
	"net/url"
	"testing"

	"killgate/actions"
)

// BenchmarkUnflattenDecodeCreateKillTask is the flattened (GET / v1 form)
// decoding of a CreateKillTask: Unflatten, then the strict Decode into the
// request struct.
func BenchmarkUnflattenDecodeCreateKillTask(b *testing.B) {
	vals, err := url.ParseQuery("Action=CreateKillTask&Version=2021-05-27&InstanceId=cdb-8jawylhf&Duration=600&Host=10.0.0.12&DB=app,report&Command=Query&Infos.0=select%20*%20from%20big&Infos.1=update%20orders&User=app&Time=30&Product=mysql")
	if err != nil {
		b.Fatal(err)
	}
	skip := func(k string) bool { return v1Common[k] }
	b.ReportAllocs()
	for b.Loop() {
		m, err := Unflatten(vals, skip)
		if err != nil {
			b.Fatal(err)
		}
		var r actions.CreateKillTaskRequest
		if err := actions.Decode(m, &r); err != nil {
			b.Fatal(err)
		}
	}
}
