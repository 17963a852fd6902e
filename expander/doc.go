// Package expander is archfit's cluster-autoscaler gRPC expander. CA calls
// BestOptions with the node groups that could host its pending pods; the
// expander drops every group whose architecture the pods' images cannot run
// on, ranks the rest (priority tier, architecture preference, cost), and
// returns the best, or several when they are truly tied so CA's next
// expander decides.
package expander
