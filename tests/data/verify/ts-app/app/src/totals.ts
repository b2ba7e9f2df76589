import { Observable, of } from "rxjs";

export interface Order {
  id: string;
  amount: number;
}

export function runningTotals(orders: Order[]): Observable<number> {
  let total = 0;
  return of(...orders.map((order) => (total += order.amount)));
}

export async function grandTotal(orders: Order[]): Promise<number> {
  const totals = runningTotals(orders);
  const last = await totals.toPromise();
  return last ?? 0;
}
