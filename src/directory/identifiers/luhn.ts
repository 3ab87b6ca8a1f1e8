/**
 * The Luhn (mod 10) check digit used by Swedish personal identity numbers and
 * organisation numbers: weights 2,1,2,1… from the left over the digits before it.
 */
export function luhnCheckDigit(digits: string): number {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    const product = Number(digits[i]) * (i % 2 === 0 ? 2 : 1);
    sum += product > 9 ? product - 9 : product;
  }
  return (10 - (sum % 10)) % 10;
}
