// Package tier is nano's tier catalog: every number of the deployment
// architecture's tables (seed 000, "Deployment Architecture") as typed data.
//
// Components and the program read sizes, replica counts, topologies and
// retention from here; nothing else in the repository hard-codes a tier
// number. catalog_test.go compares this file with the seed's tables row by row.
package tier
