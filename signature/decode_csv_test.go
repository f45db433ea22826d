package signature

import (
	"math"
	"testing"
)

const csvHeader = "tenure,monthly_charges,total_charges,contract_months\n"

func TestDecodeCSV(t *testing.T) {
	c := FormatCSV
	runDecodeCases(t, []decodeCase{
		{name: "recorded", plan: "v1", format: c, body: csvHeader + "37,36.0,1306.52,1",
			rows: 1, records: true, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "CRLF, blank lines, BOM, reordered", plan: "v1", format: c, body: "\xef\xbb\xbfcontract_months,total_charges,monthly_charges,tenure,x\r\n\r\n1,1306.52,36,37,a\r\n\n1,1927.17,96.08,20,b\r\n",
			rows: 2, records: true, feeds: []feed{{shp(2, 4), f32s(37, 36, 1306.52, 1, 20, 96.08, 1927.17, 1)}}},
		{name: "missing values refused", plan: "v1", format: c, body: csvHeader + "37,,NA,1\n",
			code: bad, msg: []string{`column "monthly_charges" (double), row 0: the missing value "" is not a finite number`}},
		{name: "inf refused", plan: "v1", format: c, body: csvHeader + "37,1,-inf,1\n",
			code: bad, msg: []string{`column "total_charges" (double), row 0: "-inf" is not a finite number`}},
		{name: "missing values are NaN with missing_values nan", plan: "v1", format: c, limits: missingNaN, body: csvHeader + "37,,NA,1\n20,nan, 3 ,1\n",
			rows: 2, records: true, feeds: []feed{{shp(2, 4), f32s(37, nan32, nan32, 1, 20, nan32, 3, 1)}}},
		{name: "missing long", plan: "v1", format: c, body: csvHeader + "37,36.0,1306.52,\n",
			code: bad, msg: []string{`column "contract_months" (long), row 0: missing value`}},
		{name: "float in long", plan: "v1", format: c, body: csvHeader + "37.5,36.0,1306.52,1\n",
			code: bad, msg: []string{`column "tenure" (long), row 0: cannot convert "37.5" to long`}},
		{name: "word in double", plan: "v1", format: c, body: csvHeader + "37,abc,1306.52,1\n",
			code: bad, msg: []string{`column "monthly_charges" (double), row 0: cannot convert "abc" to double`}},
		{name: "missing column", plan: "v1", format: c, body: "tenure,monthly_charges,total_charges\n37,36.0,1306.52\n",
			code: ipv, msg: []string{`"contract_months"`}},
		{name: "ragged", plan: "v1", format: c, body: csvHeader + "37,36.0,1306.52,1\n37,36.0\n",
			code: bad, msg: []string{"CSV line 3 has 2 fields, but the header has 4"}},
		{name: "header only", plan: "v1", format: c, body: csvHeader, code: bad, msg: []string{"no rows"}},
		{name: "empty", plan: "v1", format: c, body: "\n\r\n", code: bad, msg: []string{"CSV body is empty"}},
		{name: "unclosed quote", plan: "v1", format: c, body: csvHeader + `"37,36.0,1306.52,1`, code: bad, msg: []string{"CSV line 2: a quoted field is not closed"}},
		{name: "junk after quote", plan: "v1", format: c, body: csvHeader + `"37"x,36.0,1306.52,1`, code: bad, msg: []string{"CSV line 2: unexpected 'x' after a closing quote"}},
		{name: "duplicate header", plan: "v1", format: c, body: "tenure,tenure\n1,2\n", code: bad, msg: []string{`column "tenure" appears more than once`}},
		{name: "quoted strings", plan: "strcol", format: c, body: "s,bin\n\"a, \"\"b\"\"\n c\",aGk=\n,\"\"\n",
			rows: 2, records: true, feeds: []feed{{shp(2), strs("a, \"b\"\n c", "")}, {shp(2), strs("hi", "")}}},
		{name: "booleans", plan: "mixed", format: c, body: "a,b,d,c\n1,2.5,True,x\n2,,false,\n",
			rows: 2, records: true, feeds: []feed{{shp(2), i64s(1, 2)}, {shp(2, 1), f64s(2.5, math.NaN())}, {shp(2), bools(true, false)}}},
		{name: "bad boolean", plan: "mixed", format: c, body: "a,b,d\n1,2.5,yes\n", code: bad, msg: []string{`column "d" (boolean), row 0: cannot convert "yes" to a boolean`}},
		{name: "complex column", plan: "complex", format: c, body: "x,y,tags\n1,2,a\n", code: bad, msg: []string{`column "tags" has type array<long>, which CSV cannot carry`}},
		{name: "unnamed tensor", plan: "v2", format: c, body: "a,b,c,d\n37,36.0,1306.52,1\n",
			rows: 1, records: false, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "named tensors", plan: "v3", format: c, body: csvHeader + "37,36.0,1306.52,1\n",
			rows: 1, records: false, feeds: []feed{{shp(1), f32s(37)}, {shp(1), f32s(36)}, {shp(1), f32s(1306.52)}, {shp(1), f32s(1)}}},
		{name: "tensor (-1, 1)", plan: "col1", format: c, body: "v\n1\n2\n",
			rows: 2, records: false, feeds: []feed{{shp(2, 1), f32s(1, 2)}}},
		{name: "no signature", plan: "nosig1", format: c, body: "a,b\n1,2\n3,4",
			rows: 2, records: true, feeds: []feed{{shp(2, 2), f32s(1, 2, 3, 4)}}},
		{name: "int tensor", plan: "itensor", format: c, body: "ids,mask\n1,true\n", code: ipv, msg: []string{`input "ids" has shape (1,), but the model expects (-1, 2)`}},
	})
}
