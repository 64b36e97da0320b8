// Package program is nano's Pulumi program and its offline tools, in one
// place:
//
//   - Run (program.go), the program: it reads the stack's config, validates
//     it against the tier catalog and builds the tier's component. main.go
//     runs it under `pulumi up`; the provisioning endpoint runs it inline
//     through the Automation API.
//   - Plan (plan.go) runs the same program offline, with a stack's real
//     config and a recording mock resource monitor (Recorder, recorder.go) in
//     place of the engine and cloud providers, and prints the resource tree
//     and bill of materials (`go run . plan <stack>`). The tests use it too.
//   - LoadStack and Stacks (stackfile.go) read Pulumi.yaml and
//     stacks/Pulumi.<stack>.yaml the way the Pulumi CLI does for a program's
//     config: project defaults first, the stack's values over them, arrays
//     and objects as JSON.
package program
