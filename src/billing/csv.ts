/**
 * CSV export (RFC 4180) that a spreadsheet cannot turn into a formula: a cell starting with
 * = + - @ (or a tab or carriage return, which some spreadsheets skip before reading a formula)
 * is prefixed with a single quote (OWASP "CSV injection"). Numbers are written as numbers:
 * a negative amount stays a number, it is not text a formula could hide in.
 */

export type Cell = string | number | null | undefined;

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

export function csvCell(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvRow(cells: readonly Cell[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return csvRow(header) + rows.map(csvRow).join('');
}
