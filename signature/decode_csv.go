package signature

import "context"

// decodeCSV decodes a text/csv body as pandas.read_csv reads it with its
// defaults: a header row naming the columns, then one row per record,
// fields separated by commas, optionally quoted with '"' (a doubled quote
// inside a quoted field is a quote), blank lines skipped, and empty or
// "NA"-like fields missing. A CSV request carries no params.
//
// The body is copied into the batch's scratch so that string values can
// alias it; the copy and the cell table are reused, so a warm batch
// decodes CSV without allocating unless a column is binary.
func (d *scratch) decodeCSV(body []byte, b *Batch) error {
	d.csv, d.df = true, true
	d.format = "CSV"
	var cost Cost
	var err error
	if d.known {
		cost = d.measured
	} else if cost, err = scanCSV(body, d.lim, d.ctx); err != nil {
		return err
	}
	d.budget = cost.Elements
	d.body = append(d.body[:0], body...)
	d.maxBody = max(d.maxBody, len(body))
	d.spans = grow(d.spans, cost.Values)[:0]
	buf := d.body
	i, line := csvStart(buf)
	// The header.
	i, line = skipBlankLines(buf, i, line)
	if i, err = d.csvRecord(buf, i, line); err != nil {
		return err
	}
	ncols := len(d.spans)
	for c := range ncols {
		d.keys = append(d.keys, d.spanText(d.spans[c]))
	}
	d.spans = d.spans[:0]
	line++
	for {
		i, line = skipBlankLines(buf, i, line)
		if i >= len(buf) {
			break
		}
		if i, err = d.csvRecord(buf, i, line); err != nil {
			return err
		}
		line++
	}
	d.rows, d.nslots = cost.Rows, ncols
	d.maxRows = max(d.maxRows, cost.Rows)
	if err := d.mapSlots(); err != nil {
		return err
	}
	return d.fillTable(b)
}

// csvStart returns where a CSV body's first line starts, after a UTF-8 byte
// order mark, and its line number.
func csvStart(buf []byte) (int, int) {
	if len(buf) >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF {
		return 3, 1
	}
	return 0, 1
}

// scanCSV checks a CSV body's records and counts them within lim, without
// allocating unless the body is refused: every record must have as many
// fields as the header, and the body at least one data row.
func scanCSV(body []byte, lim Limits, ctx context.Context) (Cost, error) {
	c := Cost{Format: FormatCSV, Bytes: len(body)}
	maxValues := valueBudget(lim)
	i, line := csvStart(body)
	ncols := -1
	for {
		if i, line = skipBlankLines(body, i, line); i >= len(body) {
			break
		}
		n := 0
		for last := false; !last; {
			var err error
			if _, i, last, err = nextField(body, i, line); err != nil {
				return c, err
			}
			n++
			if c.Values++; c.Values > maxValues {
				return c, limitError("max_elements", "the CSV body holds more than %d fields (the limit is 2 × max_elements + 2 × max_rows + 1024)", maxValues)
			}
		}
		switch {
		case ncols < 0:
			ncols = n
		case n != ncols:
			return c, badRequest("CSV line %d has %d fields, but the header has %d; every row needs one field per column", line, n, ncols)
		default:
			c.Rows++
			c.Elements += n
			if c.Rows > lim.MaxRows {
				return c, limitError("max_rows", "CSV: the request has more than %d rows (max_rows)", lim.MaxRows)
			}
			if c.Elements > lim.MaxElements {
				return c, limitError("max_elements", "CSV: the request holds more than %d values (max_elements)", lim.MaxElements)
			}
			if ctx != nil && c.Rows%pollCells == 0 {
				if err := ctx.Err(); err != nil {
					return c, deadline(err)
				}
			}
		}
		line++
	}
	switch {
	case ncols < 0:
		return c, badRequest("the CSV body is empty; expected a header row naming the columns")
	case c.Rows == 0:
		return c, errNoRows("CSV")
	}
	return c, nil
}

// skipBlankLines skips empty lines at i, counting them.
func skipBlankLines(buf []byte, i, line int) (int, int) {
	for i < len(buf) {
		switch {
		case buf[i] == '\n':
			i++
		case buf[i] == '\r' && i+1 < len(buf) && buf[i+1] == '\n':
			i += 2
		default:
			return i, line
		}
		line++
	}
	return i, line
}

// csvRecord parses one record starting at i, appending its fields to
// d.spans, and returns the index after its line break.
func (d *scratch) csvRecord(buf []byte, i, line int) (int, error) {
	for {
		f, next, last, err := nextField(buf, i, line)
		if err != nil {
			return i, err
		}
		if f.escaped {
			// Doubled quotes are unescaped into d.text.
			t := len(d.text)
			for k := f.start; k < f.end; k++ {
				d.text = append(d.text, buf[k])
				if buf[k] == '"' {
					k++
				}
			}
			d.spans = append(d.spans, span{start: t, end: len(d.text), inText: true})
		} else {
			d.spans = append(d.spans, span{start: f.start, end: f.end})
		}
		if i = next; last {
			return i, nil
		}
	}
}

// csvField is one field of a CSV body: bytes [start, end), without the
// quotes of a quoted field; escaped reports doubled quotes inside it.
type csvField struct {
	start, end int
	escaped    bool
}

// nextField reads the field at i, quoted with '"' or not, and returns it
// with the index after the comma or line break that ends it, and whether
// that ended the record.
func nextField(buf []byte, i, line int) (f csvField, next int, last bool, err error) {
	if i < len(buf) && buf[i] == '"' {
		f.start = i + 1
		j := f.start
		for {
			if j >= len(buf) {
				return f, i, false, badRequest("CSV line %d: a quoted field is not closed", line)
			}
			if buf[j] == '"' {
				if j+1 < len(buf) && buf[j+1] == '"' {
					f.escaped = true
					j += 2
					continue
				}
				break
			}
			j++
		}
		f.end = j
		i = j + 1
		if i < len(buf) && buf[i] != ',' && buf[i] != '\n' && buf[i] != '\r' {
			return f, i, false, badRequest("CSV line %d: unexpected %q after a closing quote", line, buf[i])
		}
	} else {
		j := i
		for j < len(buf) && buf[j] != ',' && buf[j] != '\n' && !(buf[j] == '\r' && (j+1 == len(buf) || buf[j+1] == '\n')) {
			j++
		}
		f.start, f.end = i, j
		i = j
	}
	switch {
	case i >= len(buf):
		return f, i, true, nil
	case buf[i] == ',':
		return f, i + 1, false, nil
	case buf[i] == '\r' && i+1 < len(buf) && buf[i+1] == '\n':
		return f, i + 2, true, nil
	}
	return f, i + 1, true, nil // '\n', or a '\r' alone after a quoted field
}

// spanText returns the text of a CSV field; it aliases the batch's scratch.
func (d *scratch) spanText(s span) string {
	if s.inText {
		return b2s(d.text[s.start:s.end])
	}
	return b2s(d.body[s.start:s.end])
}
