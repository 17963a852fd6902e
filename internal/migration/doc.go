// Package migration moves running workloads to arm64 gradually and rolls
// them back when arm64 breaks them. It holds the parts the scheduler
// plugin, archfit-placement and `archfit report` share: the target format
// and its ramp, which workload a pod belongs to, the per-arch replica
// counts, the rollback records and the rules that detect a broken arch
// from pod status. The controller that acts on them is
// internal/migration/controller.
package migration
