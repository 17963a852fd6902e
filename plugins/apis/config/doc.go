// Package config holds the internal (hub) types of archfit's scheduler
// plugin args, registered into kube-scheduler's scheme as scheduler-plugins
// does. The versioned types users write live in ./v1.
package config
