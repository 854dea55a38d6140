package userid

import "strconv"

// Punctuation are the characters allowed after the first one, besides letters and digits.
const Punctuation = "_.:-"

// Pattern is Valid as a regular expression (ECMA-262 and Go syntax), for
// the OpenAPI document; '-' comes last in Punctuation, so it stays literal
// inside the class.
var Pattern = "^[A-Za-z0-9][A-Za-z0-9" + Punctuation + "]{0," + strconv.Itoa(MaxLen-1) + "}$"
