package com.example.reports;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** Reads a sales CSV, prints the totals per region and writes a copy of the rows. */
public final class ReportApp {

    private ReportApp() {
    }

    public static void main(String[] args) throws IOException {
        List<Sale> sales = new CsvImport().read(Path.of(args[0]));
        System.out.print(new Summary().render(sales));
        new CsvExport().write(Path.of(args[1]), sales);
    }
}
