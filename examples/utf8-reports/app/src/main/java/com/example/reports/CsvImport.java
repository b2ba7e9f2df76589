package com.example.reports;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reads sales from CSV: a file on disk, or a stream uploaded to the service. */
public class CsvImport {

    public List<Sale> read(Path source) throws IOException {
        return parse(Files.readAllLines(source, StandardCharsets.UTF_8));
    }

    public List<Sale> read(InputStream upload) throws IOException {
        List<String> lines = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(upload))) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                lines.add(line);
            }
        }
        return parse(lines);
    }

    private List<Sale> parse(List<String> lines) {
        List<Sale> sales = new ArrayList<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] fields = line.split(",");
            sales.add(new Sale(fields[0], fields[1], new BigDecimal(fields[2])));
        }
        return sales;
    }
}
