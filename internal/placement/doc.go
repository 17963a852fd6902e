// Package placement writes each pod's image platforms onto the pod as
// required node affinity, before the pod is scheduled.
//
// cluster-autoscaler decides with its own copy of the in-tree scheduler
// plugins and cannot run ArchFit, so whatever only archfit-scheduler knows,
// CA does not: it calls an amd64-only pod schedulable on an arm64 node
// with room and never scales up, and it sizes every node group's option
// for pods that cannot run there. A constraint on the pod itself is seen
// by CA, Karpenter and every scheduler alike.
//
// Two parts share one Evaluator (resolver, cache and unknown-image
// policy): the Webhook, on pod CREATE, writes the constraint at once when
// every image is known within a small budget and otherwise adds a
// scheduling gate; the Controller (package controller) resolves gated pods, writes the
// constraint, removes the gate and records an Event, at the latest
// MaxGate after the pod's creation. Decide and Apply hold the merge rules.
package placement
