// Package archtest holds the house's layout rules (which part may import which),
// checked by its tests against the real import graph of the module.
package archtest
