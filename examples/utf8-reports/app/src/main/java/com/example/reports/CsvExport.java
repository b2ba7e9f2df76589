package com.example.reports;

import java.io.FileWriter;
import java.io.IOException;
import java.io.Writer;
import java.nio.file.Path;
import java.util.List;

/** Writes the report rows as a CSV file. */
public class CsvExport {

    public void write(Path target, List<Sale> sales) throws IOException {
        try (Writer out = new FileWriter(target.toFile())) {
            out.write("region,product,amount\n");
            for (Sale sale : sales) {
                out.write(sale.region() + "," + sale.product() + "," + sale.amount() + "\n");
            }
        }
    }
}
