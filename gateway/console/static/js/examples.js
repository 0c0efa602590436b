// The example request of every action, from docs/actions/<Action>.md (the first
// JSON block under "## Example"). Generated; TestConsoleExamples keeps it in sync:
//   go test ./gateway/console -run TestConsoleExamples -update
export const examples = {
  "CancelKillTask": {"InstanceId":"cdb-local","Product":"mysql"},
  "CreateKillTask": {"InstanceId":"cdb-local","Duration":600,"User":"app","Command":"Query","Info":"select","Time":30},
  "DescribeDiagDBInstances": {"IsSupported":true,"Product":"mysql"},
  "DescribeKillRecords": {"InstanceId":"cdb-local","StartTime":"2025-03-01 08:00:00","EndTime":"2025-03-01T09:00:00+00:00","Limit":2},
  "DescribeKillTasks": {"InstanceId":"cdb-local","Status":"Running","Limit":10},
  "DescribeMySqlProcessList": {"InstanceId":"cdb-local","User":"app","Command":"Query","StatDimensions":[{"Dimension":"SqlTag","Data":["p=position"]}]},
  "KillMySqlThreads": {"InstanceId":"cdb-local","Stage":"Prepare","Threads":[536284,536290]},
  "PreviewKillTask": {"InstanceId":"cdb-local","User":"report","Info":"select","Time":60},
};
