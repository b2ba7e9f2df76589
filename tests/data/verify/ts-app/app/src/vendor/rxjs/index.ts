// The part of RxJS this application uses, vendored so that it builds offline.

export class Observable<T> {
  constructor(private readonly values: T[]) {}

  /** @deprecated Replaced by {@link lastValueFrom}; removed in RxJS 8. */
  toPromise(): Promise<T | undefined> {
    return Promise.resolve(this.values[this.values.length - 1]);
  }

  subscribe(next: (value: T) => void): void {
    this.values.forEach(next);
  }
}

export function of<T>(...values: T[]): Observable<T> {
  return new Observable(values);
}

export function lastValueFrom<T>(source: Observable<T>): Promise<T> {
  return new Promise((resolve) => {
    let last: T | undefined;
    source.subscribe((value) => (last = value));
    resolve(last as T);
  });
}
